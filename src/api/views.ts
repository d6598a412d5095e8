/**
 * The public shapes of jobs, artifacts and events (src/client/types.ts), built from store records.
 */
import type { ArtifactView, JobEventView, JobSummaryView, JobView } from '../client/types.js';
import { publicStatus, type JobState } from '../domain/state.js';
import type { ArtifactInfo } from '../staging/service.js';
import type { JobRecord } from '../store/store.js';

export function jobView(j: JobRecord): JobView {
  return { ...jobSummaryView(j), definition: j.spec };
}

/** What lists show: everything but the definition, which can be large (inline input files). */
export function jobSummaryView(j: JobRecord): JobSummaryView {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: j.id,
    name: j.name,
    user: j.owner,
    cluster: j.cluster,
    clusterUser: j.clusterUser,
    status: j.status,
    phase: j.state,
    statusReason: j.statusReason,
    labels: j.labels,
    nativeId: j.nativeId,
    nativeState: j.nativeState,
    attempt: j.attempt,
    taskExitCodes: j.taskExitCodes,
    exitCode: j.exitCode,
    accounting: j.accounting,
    cancelRequested: j.cancelRequestedAt !== null,
    workflowId: j.workflowId,
    createdAt: new Date(j.createdAt).toISOString(),
    submittedAt: iso(j.submittedAt),
    startedAt: iso(j.startedAt),
    endedAt: iso(j.endedAt),
    updatedAt: new Date(j.updatedAt).toISOString(),
  };
}

export function artifactView(a: ArtifactInfo): ArtifactView {
  return { name: a.name, size: a.size, sha256: a.sha256, createdAt: new Date(a.createdAt).toISOString() };
}

export const eventView = (e: { id: number; jobId: number; at: number; from: JobState | null; to: JobState; reason: string | null }): JobEventView => ({
  id: e.id,
  jobId: e.jobId,
  at: new Date(e.at).toISOString(),
  from: e.from,
  to: e.to,
  status: publicStatus(e.to),
  reason: e.reason,
});
