/**
 * Step: cancels of jobs the scheduler holds, one command for all of them. A cancel sent is not
 * sent again for a while (a slow scheduler takes time to act on it); the poll sees the result.
 */
import type { JobRecord } from '../../store/store.js';
import { exec, type StepContext } from '../context.js';
import { isConnectionFailure } from '../health.js';

const RESEND_AFTER_MS = 30_000;
const RETRY_FAILED_AFTER_MS = 5_000;

export class NativeCancels {
  /** Job id -> when its cancel may be sent (again). */
  private readonly nextAt = new Map<number, number>();

  /** Returns true when a cancel was sent (the loop then polls soon). */
  async run(ctx: StepContext, jobs: JobRecord[]): Promise<boolean> {
    const now = ctx.now();
    const todo = jobs.filter((j) => now >= (this.nextAt.get(j.id) ?? 0));
    if (todo.length === 0) return false;
    const ids = todo.map((j) => j.nativeId!);
    try {
      const r = await exec(ctx, ctx.rt.adapter.cancelCommand(ids));
      ctx.rt.adapter.parseCancel(r);
      for (const j of todo) this.nextAt.set(j.id, now + RESEND_AFTER_MS);
      return true;
    } catch (e) {
      ctx.health.stepFailed('cancel', e);
      for (const j of todo) this.nextAt.set(j.id, now + RETRY_FAILED_AFTER_MS);
      // An unreachable cluster is reported once, by its health; anything else is said here.
      if (!isConnectionFailure(e)) ctx.log.warn({ cluster: ctx.rt.name, err: e instanceof Error ? e.message : String(e), ids }, 'cancel command failed');
      return false;
    }
  }
}
