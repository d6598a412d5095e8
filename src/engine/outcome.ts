/**
 * Deciding how a job that left the queue ended. Pure: evidence in, outcome out.
 *
 * It follows the order of trust written once in docs/ARCHITECTURE.md ("Order of trust"): the
 * scheduler's word on limits it enforced, then the job's own exit files, then accounting's exit
 * code; with none of them, wait out the grace window and fail as "lost". A job that vanished is
 * never taken as a success.
 */
import type { FinalInfo } from '../domain/adapter.js';
import type { JobSpec } from '../domain/jobSpec.js';
import type { Outcome } from '../domain/state.js';
import type { Evidence } from '../jobdir/evidence.js';

export interface DecisionInput {
  spec: JobSpec;
  /** The user asked to cancel. */
  cancelRequested: boolean;
  /** An outcome the engine chose before cancelling (e.g. maximumTimeInQueue). */
  presetOutcome: Outcome | null;
  evidence: Evidence | undefined;
  /** Final state from the status poll or from accounting. */
  final: FinalInfo | null;
  /** ms since the job was first seen finished or absent. */
  sinceGoneMs: number;
  graceMs: number;
}

export type Decision =
  | { kind: 'wait'; why: string }
  | { kind: 'decided'; outcome: Outcome; taskExitCodes: (number | null)[] | null };

function plural(n: number, w: string): string {
  return `${n} ${w}${n === 1 ? '' : 's'}`;
}

/** What the runner's `.hpcb/failure` words mean (adapters/common/podman.ts writes them). */
function notStartedReason(spec: JobSpec, failure: { what: string; task: number }): string {
  const which = spec.tasks.length > 1 ? `task ${failure.task + 1}` : 'the task';
  const image = spec.tasks[failure.task]?.image ?? '?';
  switch (failure.what) {
    case 'image-missing':
      return `container image "${image}" is not available to podman on the node (it is never pulled); ${which} did not run`;
    case 'podman-missing':
      return `podman is not installed on the node; ${which} (image "${image}") did not run`;
    case 'podman-error':
      return `podman failed on the node before ${which} (image "${image}") could start; its message is in the task's stderr`;
    case 'podman-rundir':
      return `podman's run-time directory on the node belongs to another account; ${which} (image "${image}") did not run`;
    default:
      return `${which} could not start (${failure.what})`;
  }
}

function taskFailureReason(spec: JobSpec, code: number, task: number | null): string {
  if (task !== null && spec.tasks.length > 1) return `task ${task + 1} exited with code ${code}`;
  if (task !== null) return `task exited with code ${code}`;
  return `job exited with code ${code}`;
}

export function decideOutcome(d: DecisionInput): Decision {
  const ev = d.evidence;
  const final = d.final;
  const tasks = ev ? ev.taskExitCodes : null;
  const decided = (outcome: Outcome): Decision => ({ kind: 'decided', outcome, taskExitCodes: tasks });

  // A job that really finished with exit 0 before a cancel or policy took effect completed.
  const exitZero = ev?.exitCode === 0 && (final === null || final.kind === 'completed' || final.kind === 'unknown' || final.kind === 'cancelled');

  if (d.cancelRequested && !exitZero) {
    if (d.presetOutcome) return decided(d.presetOutcome);
    return decided({ status: 'deleted', reason: 'cancelled by user', exitCode: ev?.exitCode ?? null });
  }

  // A limit enforced outside a scheduler (the direct adapter's timeout) says so in .hpcb/limit.
  const kindFromLimit = ev?.limit === 'walltime' ? 'timeout' : ev?.limit === 'memory' ? 'out_of_memory' : undefined;
  const effective: FinalInfo | null = kindFromLimit && (!final || final.kind === 'unknown') ? { kind: kindFromLimit, nativeState: `limit:${ev!.limit}` } : final;

  if (effective) {
    switch (effective.kind) {
      case 'timeout': {
        const w = d.spec.resources.walltime;
        return decided({
          status: 'killed',
          reason: w !== undefined ? `walltime of ${plural(w, 'minute')} exceeded` : 'walltime limit exceeded',
          exitCode: ev?.exitCode ?? null,
        });
      }
      case 'out_of_memory':
        return decided({ status: 'killed', reason: 'memory limit exceeded', exitCode: ev?.exitCode ?? null });
      case 'node_fail':
        return decided({ status: 'failed', reason: 'node failure', retryable: true, exitCode: null });
      case 'boot_fail':
        return decided({ status: 'failed', reason: 'node failed to boot', retryable: true, exitCode: null });
      case 'preempted':
        return decided({ status: 'failed', reason: 'preempted by the scheduler', retryable: true, exitCode: null });
      case 'deadline':
        return decided({ status: 'failed', reason: 'deadline passed before the job could run', exitCode: null });
      case 'dependency':
        return decided({ status: 'failed', reason: 'dependency failed', exitCode: null });
      case 'cancelled':
        if (!exitZero) {
          if (d.presetOutcome) return decided(d.presetOutcome);
          return decided({
            status: 'failed',
            reason: 'cancelled outside the bridge (by an administrator or the scheduler)',
            exitCode: ev?.exitCode ?? null,
          });
        }
        break;
      case 'failed':
        // A scheduler that enforces memory by polling rather than with cgroups reports a plain
        // failure by signal 9 and leaves its words for the kill in the job's stderr.
        if (ev?.memoryKill && (effective.signal === 9 || ev.exitCode === null || ev.exitCode === 137 || ev.exitCode === 9)) {
          return decided({ status: 'killed', reason: 'memory limit exceeded', exitCode: ev?.exitCode ?? null });
        }
        break;
      default:
        break;
    }
  }

  if (ev && ev.exitCode !== null) {
    if (ev.exitCode === 0) return decided({ status: 'completed', reason: 'all tasks exited 0', exitCode: 0 });
    if (ev.memoryKill && (ev.exitCode === 137 || ev.exitCode === 9)) {
      return decided({ status: 'killed', reason: 'memory limit exceeded', exitCode: ev.exitCode });
    }
    if (ev.failure && ev.failure.task === ev.failedTask) {
      return decided({ status: 'failed', reason: notStartedReason(d.spec, ev.failure), exitCode: ev.exitCode });
    }
    return decided({ status: 'failed', reason: taskFailureReason(d.spec, ev.exitCode, ev.failedTask), exitCode: ev.exitCode });
  }

  // No exit file. The scheduler or accounting can still say how the batch script ended.
  if (final && (final.kind === 'completed' || final.kind === 'failed')) {
    if (d.sinceGoneMs < d.graceMs && ev && !ev.noDir && ev.started) {
      // The script started; its exit file may still be on its way (shared filesystems lag).
      return { kind: 'wait', why: 'scheduler reports the job finished; waiting for its exit-code file' };
    }
    if (final.kind === 'completed' && (final.exitCode ?? 0) === 0) {
      // The scheduler says success but the job never wrote its testimony: the runner did not
      // get to its end, so this is not a success we can vouch for.
      if (d.sinceGoneMs < d.graceMs) return { kind: 'wait', why: 'waiting for the exit-code file' };
      return decided({
        status: 'failed',
        reason: 'the scheduler reports success but the job left no exit-code file (job script did not finish)',
        exitCode: null,
      });
    }
    if (final.signal === 9 && ev?.memoryKill) return decided({ status: 'killed', reason: 'memory limit exceeded', exitCode: null });
    if (typeof final.exitCode === 'number' && final.exitCode !== 0) {
      return decided({ status: 'failed', reason: `job script exited with code ${final.exitCode} (from accounting)`, exitCode: final.exitCode, retryable: !ev?.started });
    }
    const how = final.signal ? `killed by signal ${final.signal}` : final.reason ? final.reason : 'ended abnormally';
    return decided({
      status: 'failed',
      reason: `job ${how} (${final.nativeState}) without an exit-code file`,
      exitCode: null,
      retryable: true,
    });
  }

  if (d.sinceGoneMs < d.graceMs) return { kind: 'wait', why: 'no exit-code file or accounting record yet' };
  return decided({
    status: 'failed',
    reason: 'lost: the job left the queue without an exit-code file or accounting record',
    exitCode: null,
    retryable: true,
  });
}

/**
 * Tell a walltime kill from the runner's own clock when the scheduler does not say how the job
 * ended (a status output that reports every finished job alike, with no exit status, and no
 * accounting: `final` is then at best 'unknown'). A job killed for its walltime leaves
 * `.hpcb/terminated` ("TERM <epoch> <task>") and no `.hpcb/exit`. If the runner ran at least its
 * walltime between `.hpcb/started` and that SIGTERM (both stamps from the same cluster clock,
 * whole seconds, so 2 s of slack for the two truncations and the script's start-up), the limit is
 * what ended it. Anything else (a SIGTERM earlier, no stamps, an exit file, a scheduler that did
 * say) is left as it was.
 */
const RUNNER_CLOCK_SLACK_SECONDS = 2;
export function walltimeFromRunnerClock(spec: JobSpec, ev: { exitCode: number | null; startedEpoch?: number | null; terminatedBy: string | null }, final: FinalInfo | null): FinalInfo | null {
  if (final && final.kind !== 'unknown') return final;
  const walltime = spec.resources.walltime;
  if (walltime === undefined || ev.exitCode !== null || ev.startedEpoch == null || !ev.terminatedBy) return final;
  const m = /^TERM (\d+)\b/.exec(ev.terminatedBy);
  if (!m) return final;
  const ran = Number(m[1]) - ev.startedEpoch;
  if (ran < walltime * 60 - RUNNER_CLOCK_SLACK_SECONDS) return final;
  return {
    ...(final ?? {}),
    nativeState: final?.nativeState ?? '',
    kind: 'timeout',
    reason: `SIGTERM after ${ran} s of a ${walltime * 60} s walltime (runner's .hpcb/started and .hpcb/terminated); the scheduler did not say how the job ended`,
  };
}
