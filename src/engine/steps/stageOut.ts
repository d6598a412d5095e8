/**
 * Step: stage-out, then the terminal state. Stage-outs run beside the loop, not inside the
 * tick: bringing back a job's outputs can take minutes (tens of GB), and while a tick waits on
 * it the cluster's other jobs are neither polled nor submitted. At most `stagingConcurrency`
 * run at once; each one that ends calls `onDone` (the loop kicks itself) so the next waiting
 * job starts and the job's terminal state is seen at once.
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

  has(jobId: number): boolean {
    return this.inFlight.has(jobId);
  }

  /** Start stage-outs of `jobs`, all of one identity (`as`, the context that acts as it). */
  start(jobs: readonly JobRecord[], as: StepContext = this.ctx): void {
    const ctx = as;
    const room = ctx.stagingConcurrency - this.inFlight.size;
    for (const job of jobs.slice(0, Math.max(0, room))) {
      const run = stageOutOne(ctx, job)
        .catch((e) => {
          // Stopping closes the transport under a running transfer; the job stays in
          // staging_out and the next start resumes it (stage-out is resumable).
          if (!ctx.stopped()) ctx.log.error({ err: e, cluster: ctx.rt.name, jobId: job.id }, 'stage-out crashed');
        })
        .finally(() => {
          this.inFlight.delete(job.id);
          if (!ctx.stopped()) this.onDone();
        });
      this.inFlight.set(job.id, run);
    }
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
