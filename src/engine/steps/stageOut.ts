/**
 * Step: stage-out, then the terminal state. Stage-outs run beside the loop, not inside the
 * tick: bringing back a job's outputs can take minutes (tens of GB), and while a tick waits on
 * it the cluster's other jobs are neither polled nor submitted. At most `stagingConcurrency`
 * run at once; each one that ends starts the next job the last tick found waiting, so a slot
 * never sits idle for a whole tick, and calls `onDone` (the loop wakes itself) so what follows a
 * terminal state (carriers, workflow children) is seen at once.
 */
import { isTransient } from '../../domain/errors.js';
import type { JobRecord } from '../../store/store.js';
import { jobDir, move, stepFailed, type StepContext } from '../context.js';

export class StageOuts {
  /** Stage-outs in flight (job id -> its promise). */
  private readonly inFlight = new Map<number, Promise<void>>();

  constructor(
    private readonly ctx: StepContext,
    private readonly onDone: () => void,
  ) {}
  /** Jobs a tick found in staging_out beyond the free slots, with the identity each acts as. */
  private readonly waiting = new Map<number, StepContext>();

  has(jobId: number): boolean {
    return this.inFlight.has(jobId);
  }

  /** Start stage-outs of `jobs`, all of one identity (`as`, the context that acts as it). */
  start(jobs: readonly JobRecord[], as: StepContext = this.ctx): void {
    const ctx = as;
    const room = Math.max(0, ctx.stagingConcurrency - this.inFlight.size);
    // The slots bound transfers; what every job's stage-out starts with (listing its outputs)
    // is prepared for all of them together, waiting ones included.
    if (jobs.length > 1) ctx.staging?.planStageOuts?.(jobs.map((job) => ({ job, jobDir: jobDir(ctx, job) })), ctx.rt);
    for (const job of jobs.slice(room)) this.waiting.set(job.id, as);
    for (const job of jobs.slice(0, room)) {
      this.waiting.delete(job.id);
      const run = stageOutOne(ctx, job)
        .catch((e) => {
          // Stopping closes the transport under a running transfer; the job stays in
          // staging_out and the next start resumes it (stage-out is resumable).
          if (!ctx.stopped()) ctx.log.error({ err: e, cluster: ctx.rt.name, jobId: job.id }, 'stage-out crashed');
        })
        .finally(() => {
          this.inFlight.delete(job.id);
          if (ctx.stopped()) return;
          for (const [as, next] of this.nextWaiting()) this.start([next], as);
          this.onDone();
        });
      this.inFlight.set(job.id, run);
    }
  }

  /** As many waiting jobs still in staging_out as there is room for, freshly read (not a tick). */
  private nextWaiting(): [StepContext, JobRecord][] {
    const out: [StepContext, JobRecord][] = [];
    const room = this.ctx.stagingConcurrency - this.inFlight.size;
    for (const [id, as] of this.waiting) {
      if (out.length >= room) break;
      this.waiting.delete(id);
      const fresh = this.inFlight.has(id) ? undefined : this.ctx.store.get(id);
      if (fresh?.state === 'staging_out') out.push([as, fresh]);
    }
    return out;
  }

  /** Let transfers in flight finish for up to `graceMs`; a large one resumes at the next start. */
  async drain(graceMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(this.inFlight.values()), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }
}

async function stageOutOne(ctx: StepContext, job: JobRecord): Promise<void> {
  const outcome = job.outcome ?? { status: 'failed' as const, reason: 'outcome missing' };
  try {
    await ctx.staging?.stageOut?.(job, jobDir(ctx, job), ctx.rt);
  } catch (e) {
    if (ctx.stopped()) return;
    if (isTransient(e)) {
      stepFailed(ctx, job, 'stage-out', e);
      return;
    }
    const msg = e instanceof Error ? e.message : String(e);
    move(ctx, job, ['staging_out'], outcome.status === 'completed' ? 'failed' : outcome.status, { statusReason: `${outcome.reason}; stage-out failed: ${msg}` }, 'stage-out failed');
    return;
  }
  if (ctx.stopped()) return; // the database may be closing; the next start records the end
  move(ctx, job, ['staging_out'], outcome.status, { statusReason: outcome.reason }, outcome.reason);
}
