/**
 * What one status observation means for a queued or running job. Only the observation's
 * neutral fields are read (state, final, stillQueued); the native code is kept for display.
 */
import type { Observation } from '../../domain/adapter.js';
import type { JobRecord } from '../../store/store.js';
import { move, type StepContext } from '../context.js';

export function applyObservation(ctx: StepContext, job: JobRecord, o: Observation): void {
  const reason = o.reason && o.reason !== 'None' ? o.reason : null;
  switch (o.state) {
    case 'pending':
    case 'held': {
      const statusReason = o.state === 'held' ? `held${reason ? `: ${reason}` : ''}` : reason ? `waiting: ${reason}` : 'waiting in the queue';
      if (job.state === 'running') {
        move(ctx, job, ['running'], 'queued', { nativeState: o.nativeState, statusReason }, 'requeued by the scheduler');
        return;
      }
      if (job.nativeState !== o.nativeState || job.statusReason !== statusReason) {
        ctx.store.update(job.id, ['queued'], { nativeState: o.nativeState, statusReason });
      }
      checkTimeInQueue(ctx, job);
      return;
    }
    case 'running':
    case 'suspended': {
      const statusReason = o.state === 'suspended' ? 'suspended by the scheduler' : null;
      if (job.state === 'queued') {
        move(ctx, job, ['queued'], 'running', { nativeState: o.nativeState, startedAt: ctx.now(), statusReason }, 'started');
      } else if (job.nativeState !== o.nativeState || job.statusReason !== statusReason) {
        ctx.store.update(job.id, ['running'], { nativeState: o.nativeState, statusReason });
      }
      return;
    }
    case 'done':
      if (o.final?.kind === 'dependency') {
        // Its dependency can never be satisfied: the outcome is "dependency failed" whatever
        // ends it. Still in the queue (the scheduler keeps such a job waiting): cancel it there
        // first. Already ended by the scheduler: decide it now, or it would wait forever.
        if (job.cancelRequestedAt === null) ctx.store.decideAndCancel(job.id, [job.state], { status: 'failed', reason: 'dependency failed' });
        if (o.stillQueued) return;
      }
      move(ctx, job, [job.state], 'finishing', { nativeState: o.nativeState, nativeFinal: o.final ?? null, absentSince: ctx.now() }, `scheduler reports ${o.nativeState}`);
      return;
    case 'unknown':
    default:
      // Never guessed: keep the state, record the raw code, say so once.
      if (job.nativeState !== o.nativeState) {
        ctx.log.warn({ cluster: ctx.rt.name, jobId: job.id, nativeId: job.nativeId, nativeState: o.nativeState }, 'unknown scheduler state; keeping the job as it was');
        ctx.store.update(job.id, [job.state], { nativeState: o.nativeState });
      }
  }
}

/** policies.maximumTimeInQueue: past it, the job's outcome is decided and it is cancelled. */
function checkTimeInQueue(ctx: StepContext, job: JobRecord): void {
  const limit = job.spec.policies.maximumTimeInQueue;
  if (!limit || job.cancelRequestedAt !== null || job.submittedAt === null) return;
  if (ctx.now() - job.submittedAt < limit * 60_000) return;
  const reason = `maximum time in queue of ${limit} minute${limit === 1 ? '' : 's'} exceeded`;
  ctx.store.decideAndCancel(job.id, ['queued'], { status: 'failed', reason });
  ctx.log.info({ cluster: ctx.rt.name, jobId: job.id, nativeId: job.nativeId }, reason);
}
