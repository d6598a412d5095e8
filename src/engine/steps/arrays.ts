/**
 * Steps for array carriers: a workflow's instances of one job submitted as one native array.
 * The carrier row is the one submission; each instance follows its element in the queue.
 */
import { isTerminal } from '../../domain/state.js';
import type { JobRecord } from '../../store/store.js';
import { move, type StepContext } from '../context.js';

/**
 * Which element of its carrier an instance is. A factory larger than the scheduler's largest
 * array has several carriers, each numbering its elements from 0; the carrier's `wfIndex` is its
 * first instance's (null on rows from before arrays were split: 0).
 */
export function elementIndex(carrier: Pick<JobRecord, 'wfIndex'>, inst: Pick<JobRecord, 'wfIndex'>): number | undefined {
  if (inst.wfIndex === null) return undefined;
  const k = inst.wfIndex - (carrier.wfIndex ?? 0);
  return k >= 0 ? k : undefined;
}

/**
 * Instances staged in wait in `submitting` for their carrier's one submission; once it has an
 * id, each becomes the adapter's element id in the queue, which is how the status poll names the element. A carrier that
 * ended without an id (rejected, cancelled first) ends them too.
 */
export function linkArrayInstances(ctx: StepContext): void {
  ctx.store.batch(() => linkAll(ctx));
}

function linkAll(ctx: StepContext): void {
  // Thousands of instances share a few carriers: each is read once.
  const carriers = new Map<number, JobRecord | undefined>();
  for (const inst of ctx.store.activeOnCluster(ctx.rt.name)) {
    if (inst.state !== 'submitting' || inst.arrayJobId === null) continue;
    if (!carriers.has(inst.arrayJobId)) carriers.set(inst.arrayJobId, ctx.store.get(inst.arrayJobId));
    const carrier = carriers.get(inst.arrayJobId);
    if (!carrier) continue;
    const arrays = ctx.rt.adapter.arrays;
    const k = elementIndex(carrier, inst);
    if (carrier.nativeId && arrays && k !== undefined && carrier.state !== 'submitting' && carrier.state !== 'staging_in' && carrier.state !== 'accepted') {
      const nativeId = arrays.elementId(carrier.nativeId, k);
      move(ctx, inst, ['submitting'], 'queued', { nativeId, submittedAt: carrier.submittedAt ?? ctx.now(), afterOk: carrier.afterOk }, `submitted as element ${k} of array ${carrier.nativeId}`, { nativeId });
    } else if (isTerminal(carrier.state)) {
      const to = inst.cancelRequestedAt !== null ? 'deleted' : 'failed';
      move(ctx, inst, ['submitting'], to, { statusReason: to === 'deleted' ? 'cancelled by user' : (carrier.statusReason ?? 'array submission failed') }, 'array submission ended');
    }
  }
}

/**
 * A carrier has no outcome of its own: once every element it ran has ended, it is done. The
 * three moves keep the state machine's path; a daemon stopped between them resumes here.
 */
export function closeCarriers(ctx: StepContext): void {
  for (const c of ctx.store.activeOnCluster(ctx.rt.name)) {
    if (c.kind !== 'array' || !['queued', 'running', 'finishing', 'staging_out'].includes(c.state)) continue;
    const insts = ctx.store.carrierInstances(c.workflowId!, c.id);
    if (insts.some((i) => !isTerminal(i.state))) continue;
    let cur: JobRecord | undefined = c;
    const why = `all ${insts.length} elements ended`;
    if (cur.state === 'queued' || cur.state === 'running') cur = move(ctx, cur, [cur.state], 'finishing', {}, why);
    if (cur?.state === 'finishing') cur = move(ctx, cur, ['finishing'], 'staging_out', { outcome: { status: 'completed', reason: why } }, why);
    if (cur?.state === 'staging_out') move(ctx, cur, ['staging_out'], 'completed', { statusReason: why }, why);
  }
}
