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
  private readonly cache = new Map<number, { parents: Record<string, string[]>; maximumParallel: number | undefined }>();
  private readonly rowCache = new Map<number, JobRecord[]>();
  constructor(private readonly store: Store) {}

  /** The workflow's definition: small, and all a job without parents needs. */
  private spec(workflowId: number): { parents: Record<string, string[]>; maximumParallel: number | undefined } {
    let v = this.cache.get(workflowId);
    if (!v) {
      const spec = this.store.getWorkflow(workflowId)?.spec as { dependencies?: Record<string, string[]>; policies?: { maximumParallel?: number } } | undefined;
      const parents: Record<string, string[]> = {};
      for (const [p, kids] of Object.entries(spec?.dependencies ?? {})) for (const k of kids) (parents[k] ??= []).push(p);
      v = { parents, maximumParallel: spec?.policies?.maximumParallel };
      this.cache.set(workflowId, v);
    }
    return v;
  }

  private load(workflowId: number): { rows: JobRecord[]; parents: Record<string, string[]>; maximumParallel: number | undefined } {
    let rows = this.rowCache.get(workflowId);
    if (!rows) {
      rows = this.store.workflowJobs(workflowId);
      this.rowCache.set(workflowId, rows);
    }
    return { rows, ...this.spec(workflowId) };
  }

  rows(workflowId: number): JobRecord[] {
    return this.load(workflowId).rows;
  }

  /** The workflow's policies.maximumParallel, if set. */
  maximumParallel(workflowId: number): number | undefined {
    return this.spec(workflowId).maximumParallel;
  }

  byId(workflowId: number, id: number): JobRecord | undefined {
    return this.load(workflowId).rows.find((r) => r.id === id);
  }

  /** The current instances of every parent job of `job` (by exact name). */
  parentsOf(job: JobRecord): JobRecord[] {
    if (job.workflowId === null || job.wfJob === null) return [];
    // A sweep's instances without parents never read the workflow's (thousands of) rows.
    const names = this.spec(job.workflowId).parents[job.wfJob] ?? [];
    if (names.length === 0) return [];
    return this.load(job.workflowId).rows.filter((r) => r.kind === 'job' && r.wfCurrent && r.wfJob !== null && names.includes(r.wfJob));
  }

  parentFailed(job: JobRecord): boolean {
    return this.parentsOf(job).some((p) => isTerminal(p.state) && p.state !== 'completed');
  }
}
