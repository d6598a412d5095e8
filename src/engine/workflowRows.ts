/**
 * The engine's read of workflows (not the public status: that is workflowStatus.ts).
 */
import { isTerminal } from '../domain/state.js';
import type { JobRecord, Store } from '../store/store.js';

/**
 * A workflow's rows and dependency map, read once per use (a tick, a decision) so a sweep of
 * many instances costs one query per workflow rather than one per instance.
 */
export class WorkflowRows {
  private readonly cache = new Map<number, { rows: JobRecord[]; parents: Record<string, string[]>; maximumParallel: number | undefined }>();
  constructor(private readonly store: Store) {}

  private load(workflowId: number): { rows: JobRecord[]; parents: Record<string, string[]>; maximumParallel: number | undefined } {
    let v = this.cache.get(workflowId);
    if (!v) {
      const spec = this.store.getWorkflow(workflowId)?.spec as { dependencies?: Record<string, string[]>; policies?: { maximumParallel?: number } } | undefined;
      const parents: Record<string, string[]> = {};
      for (const [p, kids] of Object.entries(spec?.dependencies ?? {})) for (const k of kids) (parents[k] ??= []).push(p);
      v = { rows: this.store.workflowJobs(workflowId), parents, maximumParallel: spec?.policies?.maximumParallel };
      this.cache.set(workflowId, v);
    }
    return v;
  }

  rows(workflowId: number): JobRecord[] {
    return this.load(workflowId).rows;
  }

  /** The workflow's policies.maximumParallel, if set. */
  maximumParallel(workflowId: number): number | undefined {
    return this.load(workflowId).maximumParallel;
  }

  byId(workflowId: number, id: number): JobRecord | undefined {
    return this.load(workflowId).rows.find((r) => r.id === id);
  }

  /** The current instances of every parent job of `job` (by exact name). */
  parentsOf(job: JobRecord): JobRecord[] {
    if (job.workflowId === null || job.wfJob === null) return [];
    const v = this.load(job.workflowId);
    const names = v.parents[job.wfJob] ?? [];
    return v.rows.filter((r) => r.kind === 'job' && r.wfCurrent && r.wfJob !== null && names.includes(r.wfJob));
  }

  parentFailed(job: JobRecord): boolean {
    return this.parentsOf(job).some((p) => isTerminal(p.state) && p.state !== 'completed');
  }
}
