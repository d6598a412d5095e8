/**
 * How jobs and workflows are shown on a terminal, and the exit code each outcome gives.
 */
import type { JobSummaryView, JobView, NotificationView, WorkflowView } from '../client/index.js';
import { EXIT } from './exitCodes.js';
import { formatTable } from './output.js';

export function jobsTable(jobs: JobSummaryView[]): string {
  return formatTable(
    ['ID', 'NAME', 'CLUSTER', 'STATUS', 'CREATED', 'REASON'],
    jobs.map((j) => [String(j.id), j.name, j.cluster, j.status, j.createdAt.replace('T', ' ').slice(0, 19), j.statusReason ?? '']),
  );
}

/** One row per notification delivery: what was sent where, and how it went. */
export function deliveriesTable(list: NotificationView[]): string {
  const when = (t: string | null) => (t ? t.replace('T', ' ').slice(0, 19) : '');
  return formatTable(
    ['DELIVERY', 'EVENT', 'TYPE', 'TARGET', 'STATUS', 'ATTEMPTS', 'DELIVERED', 'LAST ERROR'],
    list.map((n) => [n.deliveryId, n.event, n.type, n.target, n.status, String(n.attempts), when(n.deliveredAt), n.lastError ?? '']),
  );
}

export const progressText = (v: WorkflowView) => `${v.progress.completed}/${v.progress.total} completed, ${v.progress.failed} failed, ${v.progress.running} running, ${v.progress.waiting} waiting${v.progress.deleted ? `, ${v.progress.deleted} deleted` : ''}`;

export function workflowsTable(list: WorkflowView[]): string {
  return formatTable(
    ['ID', 'NAME', 'STATUS', 'JOBS', 'DONE', 'FAILED', 'RUNNING', 'WAITING', 'CREATED'],
    list.map((w) => [String(w.id), w.name, w.status, String(w.progress.total), String(w.progress.completed), String(w.progress.failed), String(w.progress.running), String(w.progress.waiting), new Date(w.createdAt).toISOString().replace('T', ' ').slice(0, 19)]),
  );
}

/** A workflow in full: its status line, then one row per instance with its state and why. */
export function workflowText(v: WorkflowView): string {
  const head = `workflow ${v.id}${v.name ? ` "${v.name}"` : ''}: ${v.status} (${progressText(v)})${v.reruns ? `, rerun ${v.reruns}x` : ''}`;
  const params = (p: Record<string, string>) => Object.entries(p).map(([k, x]) => `${k}=${x}`).join(' ');
  const rows = v.jobs.map((j) => [j.name, String(j.index), String(j.id), params(j.parameters), j.cluster, j.status, j.nativeId ?? '', j.statusReason ?? '']);
  return `${head}\n${formatTable(['JOB', 'INDEX', 'ID', 'PARAMETERS', 'CLUSTER', 'STATUS', 'NATIVE ID', 'REASON'], rows)}`;
}

export const exitForWorkflow = (v: WorkflowView): number => (v.status === 'completed' ? EXIT.OK : v.status === 'failed' || v.status === 'deleted' ? EXIT.JOB_NOT_COMPLETED : EXIT.TIMEOUT);

export function jobStatusLine(j: JobView): string {
  return `job ${j.id}: ${j.status}${j.statusReason ? ` (${j.statusReason})` : ''}`;
}

export function exitForStatus(j: JobView): number {
  if (j.status === 'completed') return EXIT.OK;
  if (['failed', 'killed', 'deleted'].includes(j.status)) return EXIT.JOB_NOT_COMPLETED;
  return EXIT.TIMEOUT;
}
