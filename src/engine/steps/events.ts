/**
 * Step: what the event log said (stored by follower.ts) moves queued and running jobs at once,
 * without waiting for a status poll. A start record makes a queued job running; an end record
 * (the script wrote its exit file, then the record) sends it to finishing, where its own exit
 * file decides. A `term` record moves nothing: a signal's cause is the scheduler's to say. Nor
 * does an end record where the adapter says the scheduler may have been killing the job when
 * its script wrote it (`endRecordNeedsScheduler`): there it only brings the poll back.
 *
 * A job sent to finishing this way keeps `absentSince` empty: the scheduler has not said it
 * left the queue, so no grace window for a lost job starts until a status poll says so.
 */
import type { JobRecord } from '../../store/store.js';
import { move, type StepContext } from '../context.js';

export function applyEvents(ctx: StepContext, jobs: readonly JobRecord[]): number {
  // One commit for all the moves: hundreds of trivial jobs start and end between two ticks.
  return ctx.store.batch(() => applyEach(ctx, jobs));
}

function applyEach(ctx: StepContext, jobs: readonly JobRecord[]): number {
  let moved = 0;
  for (const job of jobs) {
    // A carrier's elements run its instances' scripts; the instances have their own records.
    if (job.kind !== 'job' || job.eventPhase === null) continue;
    if (job.eventPhase === 'start' && job.state === 'queued') {
      if (move(ctx, job, ['queued'], 'running', { startedAt: job.eventAt ?? ctx.now(), statusReason: null }, 'started (event log)')) moved++;
    } else if (job.eventPhase === 'end' && (job.state === 'queued' || job.state === 'running') && !ctx.rt.adapter.endRecordNeedsScheduler) {
      if (move(ctx, job, [job.state], 'finishing', { absentSince: null }, `script ended with status ${job.eventExit ?? '?'} (event log)`)) moved++;
    }
  }
  return moved;
}

/**
 * A job only the scheduler can tell about next, so the status poll keeps its fast interval:
 * signalled (its record says so, not why), ended where only the scheduler may say so, cancelled by request, queued for `settleMs` without
 * a start record and never seen by a poll while no job of the cluster started for `settleMs`
 * (`lastStartAt`: a queue that does not move; its reason for waiting, or a job that never
 * starts), queued past its maximumTimeInQueue, or sent to finishing by its end record and still
 * undecided after `settleMs` (no exit file yet, or a status that may be a scheduler's kill).
 *
 * A queued job behind others that keep starting waits its turn (a sweep draining through the
 * cluster's slots): the safety-net poll gives its reason, so a large batch does not bring the
 * fast poll back for as long as it drains.
 */
export function awaitsScheduler(job: JobRecord, now: number, settleMs: number, lastStartAt = 0, endNeedsScheduler = false): boolean {
  if (job.kind !== 'job') return false;
  const inQueue = job.state === 'queued' || job.state === 'running';
  if (inQueue && (job.eventPhase === 'term' || (job.eventPhase === 'end' && endNeedsScheduler) || job.cancelRequestedAt !== null)) return true;
  if (job.state === 'queued' && job.nativeState === null && now - (job.submittedAt ?? now) >= settleMs && now - lastStartAt >= settleMs) return true;
  // policies.maximumTimeInQueue is enforced on a poll's view of the queued job.
  const limit = job.spec.policies.maximumTimeInQueue;
  if (job.state === 'queued' && limit && now - (job.submittedAt ?? now) >= limit * 60_000) return true;
  return job.state === 'finishing' && job.absentSince === null && now - job.updatedAt > settleMs;
}
