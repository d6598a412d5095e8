/**
 * The public shapes of jobs, artifacts and events (src/client/types.ts), built from store records.
 */
import type { ArtifactView, JobEventView, JobSummaryView, JobView, NotificationView } from '../client/types.js';
import { redactSecrets } from '../domain/notifications.js';
import { publicStatus, type JobState } from '../domain/state.js';
import type { ArtifactInfo } from '../staging/service.js';
import type { NotificationRow } from '../store/notifications.js';
import type { JobRecord } from '../store/store.js';

export function jobView(j: JobRecord): JobView {
  // A webhook's secret is for signing only: it never leaves the daemon again.
  return { ...jobSummaryView(j), definition: redactSecrets(j.spec) };
}

export function notificationView(n: NotificationRow): NotificationView {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    deliveryId: n.deliveryId,
    event: n.event as NotificationView['event'],
    type: n.type,
    target: n.target,
    status: n.status,
    attempts: n.attempts,
    nextAttemptAt: n.status === 'pending' ? iso(n.nextAttemptAt) : null,
    lastAttemptAt: iso(n.lastAttemptAt),
    lastError: n.lastError,
    deliveredAt: iso(n.deliveredAt),
    createdAt: new Date(n.createdAt).toISOString(),
  };
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
