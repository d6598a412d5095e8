/**
 * Step, before anything reaches the scheduler: the adapter's probe (which scheduler answers on
 * the login node), asked the first time the engine has work on a cluster. A dialect that is not
 * the configured one would take the job into another scheduler and answer polls this adapter
 * misreads, so on a mismatch nothing is submitted or polled there: the cluster is degraded with
 * a message naming it and both dialects, and the probe is asked again at the degraded pace (an
 * operator may fix the login node's PATH without a restart). An answer that names no dialect is
 * logged and never guessed at: the engine goes on as configured.
 */
import { exec, type StepContext } from '../context.js';

export class ProbeGate {
  private settled = false;

  /** True when the tick may go on. Failures change no job: they only degrade the cluster. */
  async ready(ctx: StepContext): Promise<boolean> {
    const probe = ctx.rt.adapter.probe;
    if (this.settled || !probe) return true;
    const cluster = ctx.rt.name;
    let answer;
    try {
      answer = probe.judge(await exec(ctx, probe.command));
    } catch (e) {
      ctx.health.stepFailed('scheduler probe', e);
      return false;
    }
    if (answer.verdict === 'mismatch') {
      const message = `cluster ${cluster}: ${answer.detail}; nothing is submitted or polled there until they agree`;
      if (ctx.health.misconfigured(message)) ctx.log.error({ cluster }, message);
      return false;
    }
    if (answer.verdict === 'unknown') ctx.log.warn({ cluster }, `cluster ${cluster}: ${answer.detail}; going on as configured`);
    else ctx.log.info({ cluster }, `cluster ${cluster}: ${answer.detail}`);
    ctx.health.configured();
    this.settled = true;
    return true;
  }
}
