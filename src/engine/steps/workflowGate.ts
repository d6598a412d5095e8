/**
 * Step: workflow jobs wait for their parents (or fail when one failed) before stage-in, and
 * policies.maximumParallel holds back instances the scheduler cannot limit itself.
 */
import { isTerminal } from '../../domain/state.js';
import type { JobRecord } from '../../store/store.js';
import { move, type StepContext } from '../context.js';
import type { WorkflowRows } from '../workflowRows.js';

/**
 * Decide for each workflow job still `accepted` whether it may stage in: every parent done,
 * or (natively) every unfinished parent in this cluster's queue, whose ids become the job's
 * afterok. A parent that ended other than completed fails the job with "dependency failed"
 * before anything of it reaches the cluster. Array instances stage in right away (their
 * carrier holds the dependency); a carrier waits until all its instances are staged in.
 */
export function gateWorkflowJobs(ctx: StepContext, jobs: readonly JobRecord[], wf: WorkflowRows): Set<number> {
  /** Whether this cluster's scheduler holds a job until its afterok ids ended well (adapter capability). */
  const nativeDeps = ctx.rt.adapter.nativeDependencies === true;
  const ready = new Set<number>();
  /** Instances of one factory job (workflow:name) past accepted and not ended, this tick. */
  const active = new Map<string, number>();
  for (const job of jobs) {
    if (job.state !== 'accepted' || job.workflowId === null || job.cancelRequestedAt !== null) continue;
    const parents = wf.parentsOf(job);
    if (parents.some((p) => isTerminal(p.state) && p.state !== 'completed')) {
      move(ctx, job, ['accepted'], 'failed', { statusReason: 'dependency failed' }, 'dependency failed');
      continue;
    }
    if (job.arrayJobId !== null) {
      ready.add(job.id);
      continue;
    }
    if (job.kind === 'array' && ctx.store.carrierInstances(job.workflowId, job.id).some((i) => i.state === 'accepted' || i.state === 'staging_in')) continue;
    const afterOk = new Set<string>();
    let wait = false;
    for (const p of parents.filter((x) => x.state !== 'completed')) {
      const carrier = p.arrayJobId !== null ? wf.byId(p.workflowId!, p.arrayJobId) : undefined;
      // Only ids still in the queue: a job that already left may be gone from the controller,
      // and an afterok on an unknown id is rejected; such a parent is waited for here instead.
      const inQueue = (p.state === 'queued' || p.state === 'running') && p.cluster === ctx.rt.name;
      const id = carrier ? carrier.nativeId : p.nativeId;
      if (!nativeDeps || !inQueue || !id) {
        wait = true;
        break;
      }
      afterOk.add(id);
    }
    if (wait) continue;
    // maximumParallel without a native array (an adapter without arrays, rerun instances): the engine lets at
    // most that many instances of one factory job past `accepted` until some of them end.
    const limit = wf.maximumParallel(job.workflowId);
    if (limit !== undefined && job.kind === 'job' && job.wfParams !== null) {
      const key = `${job.workflowId}:${job.wfJob}`;
      const n = active.get(key) ?? wf.rows(job.workflowId).filter((r) => r.kind === 'job' && r.wfCurrent && r.wfJob === job.wfJob && r.arrayJobId === null && r.state !== 'accepted' && !isTerminal(r.state)).length;
      active.set(key, n);
      if (n >= limit) continue;
      active.set(key, n + 1);
    }
    if (afterOk.size > 0) ctx.store.update(job.id, ['accepted'], { afterOk: [...afterOk] });
    ready.add(job.id);
  }
  return ready;
}
