/**
 * A workflow's public status, derived from its current job rows (never stored, so it cannot
 * disagree with them). Carriers and rows a rerun replaced do not count.
 */
import { isTerminal } from '../domain/state.js';
import type { JobRecord, WorkflowRecord } from '../store/store.js';

export const WORKFLOW_STATUSES = ['pending', 'running', 'completed', 'failed', 'deleted'] as const;
export type WorkflowStatus = (typeof WORKFLOW_STATUSES)[number];

export interface WorkflowProgress {
  total: number;
  completed: number;
  /** failed or killed */
  failed: number;
  deleted: number;
  running: number;
  /** not yet running: pending or idle */
  waiting: number;
}

export interface WorkflowJobView {
  id: number;
  name: string;
  index: number;
  parameters: Record<string, string>;
  cluster: string;
  status: JobRecord['status'];
  statusReason: string | null;
  nativeId: string | null;
}

export interface WorkflowView {
  id: number;
  name: string;
  labels: Record<string, string>;
  status: WorkflowStatus;
  progress: WorkflowProgress;
  createdAt: number;
  deletedAt: number | null;
  reruns: number;
  /** Current instances, by job name then index. */
  jobs: WorkflowJobView[];
}

export function currentJobs(rows: readonly JobRecord[]): JobRecord[] {
  return rows.filter((r) => r.kind === 'job' && r.wfCurrent);
}

export function workflowStatus(rows: readonly JobRecord[], deleted: boolean): { status: WorkflowStatus; progress: WorkflowProgress } {
  const jobs = currentJobs(rows);
  const p: WorkflowProgress = { total: jobs.length, completed: 0, failed: 0, deleted: 0, running: 0, waiting: 0 };
  for (const j of jobs) {
    if (j.status === 'completed') p.completed++;
    else if (j.status === 'failed' || j.status === 'killed') p.failed++;
    else if (j.status === 'deleted') p.deleted++;
    else if (j.status === 'running') p.running++;
    else p.waiting++;
  }
  const active = jobs.some((j) => !isTerminal(j.state));
  let status: WorkflowStatus;
  if (active) status = p.running > 0 || p.completed + p.failed + p.deleted > 0 ? 'running' : 'pending';
  else if (deleted) status = 'deleted';
  else if (p.completed === p.total) status = 'completed';
  else status = 'failed';
  return { status, progress: p };
}

export function workflowView(wf: WorkflowRecord, rows: readonly JobRecord[]): WorkflowView {
  const { status, progress } = workflowStatus(rows, wf.deletedAt !== null);
  const spec = wf.spec as { labels?: Record<string, string> };
  const jobs = currentJobs(rows)
    .map((j) => ({ id: j.id, name: j.wfJob ?? j.name, index: j.wfIndex ?? 0, parameters: j.wfParams ?? {}, cluster: j.cluster, status: j.status, statusReason: j.statusReason, nativeId: j.nativeId }))
    .sort((a, b) => (a.name === b.name ? a.index - b.index : a.name < b.name ? -1 : 1));
  return { id: wf.id, name: wf.name, labels: spec.labels ?? {}, status, progress, createdAt: wf.createdAt, deletedAt: wf.deletedAt, reruns: wf.reruns, jobs };
}
