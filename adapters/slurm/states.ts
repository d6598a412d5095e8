/**
 * Every Slurm job state (squeue %t compact code and %T / sacct / scontrol long name) and what it
 * means to the engine. Checked against Slurm 22.05.8 (slurm/slurm.h `job_states` and
 * squeue(1) "JOB STATE CODES"); anything not in this table maps to 'unknown', never to success.
 */
import type { FinalKind, QueueState } from '../../src/domain/adapter.js';

export interface SlurmStateInfo {
  /** Compact code, as printed by squeue %t. */
  readonly code: string;
  /** Long name, as printed by squeue %T, sacct State and scontrol JobState. */
  readonly name: string;
  readonly state: QueueState;
  /** For finished states: how the job ended. */
  readonly final?: FinalKind;
}

export const SLURM_STATES: readonly SlurmStateInfo[] = [
  // Waiting for resources, priority, a dependency, a begin time or a hold (see the reason).
  { code: 'PD', name: 'PENDING', state: 'pending' },
  // Allocated, nodes still booting or being configured; the script has not started.
  { code: 'CF', name: 'CONFIGURING', state: 'pending' },
  // The batch script is running.
  { code: 'R', name: 'RUNNING', state: 'running' },
  // The script ended; Slurm is still cleaning up (epilog, killing leftovers). About 0.5 s here.
  { code: 'CG', name: 'COMPLETING', state: 'running' },
  // Every process ended with exit code 0.
  { code: 'CD', name: 'COMPLETED', state: 'done', final: 'completed' },
  // Non-zero exit, killed by a signal, or a launch failure (e.g. JobLaunchFailure, BadConstraints).
  { code: 'F', name: 'FAILED', state: 'done', final: 'failed' },
  // scancel/qdel by the user, the bridge or an admin; sacct prints "CANCELLED by <uid>".
  { code: 'CA', name: 'CANCELLED', state: 'done', final: 'cancelled' },
  // Walltime reached: SIGTERM, then SIGKILL after KillWait (ExitCode 0:15).
  { code: 'TO', name: 'TIMEOUT', state: 'done', final: 'timeout' },
  // A node allocated to the job failed.
  { code: 'NF', name: 'NODE_FAIL', state: 'done', final: 'node_fail' },
  // The cgroup OOM killer hit the job (cgroup memory enforcement; ExitCode 0:125 in 22.05).
  { code: 'OOM', name: 'OUT_OF_MEMORY', state: 'done', final: 'out_of_memory' },
  // Preempted by a higher-priority job; with --no-requeue it does not come back.
  { code: 'PR', name: 'PREEMPTED', state: 'done', final: 'preempted' },
  // A node failed to boot for the job (power-saving/cloud nodes).
  { code: 'BF', name: 'BOOT_FAIL', state: 'done', final: 'boot_fail' },
  // Removed because it could not finish before its --deadline.
  { code: 'DL', name: 'DEADLINE', state: 'done', final: 'deadline' },
  // Requeued (node failure or `scontrol requeue`); goes back to pending.
  { code: 'RQ', name: 'REQUEUED', state: 'pending' },
  // The allocation is changing size; the job keeps running.
  { code: 'RS', name: 'RESIZING', state: 'running' },
  // Requeued and held (`scontrol requeuehold`): waits for a release.
  { code: 'RH', name: 'REQUEUE_HOLD', state: 'held' },
  // Requeued by a federation sibling; pending again.
  { code: 'RF', name: 'REQUEUE_FED', state: 'pending' },
  // Held because its reservation was deleted: waits for a release.
  { code: 'RD', name: 'RESV_DEL_HOLD', state: 'held' },
  // Suspended by an admin or gang scheduling; keeps its allocation.
  { code: 'S', name: 'SUSPENDED', state: 'suspended' },
  // Processes stopped with SIGSTOP; keeps its allocation.
  { code: 'ST', name: 'STOPPED', state: 'suspended' },
  // Requeued in a special held state (an epilog's exit value asked for it): waits for a release.
  { code: 'SE', name: 'SPECIAL_EXIT', state: 'held' },
  // Being signalled (e.g. scancel --signal); still running.
  { code: 'SI', name: 'SIGNALING', state: 'running' },
  // Staging out burst-buffer data after the script; the job is not over yet.
  { code: 'SO', name: 'STAGE_OUT', state: 'running' },
  // Federation: a sibling ran it on another cluster, so this copy was revoked. How it ended is
  // not known here.
  { code: 'RV', name: 'REVOKED', state: 'done', final: 'unknown' },
];

const BY_KEY: ReadonlyMap<string, SlurmStateInfo> = new Map(
  SLURM_STATES.flatMap((s) => [[s.code, s] as const, [s.name, s] as const]),
);

/** Pending reasons that mean someone put the job on hold (it waits for `scontrol release`). */
export const HELD_REASONS: ReadonlySet<string> = new Set(['JobHeldUser', 'JobHeldAdmin']);

/**
 * The state word without sacct's decorations: "CANCELLED by 1000" (the uid that cancelled it)
 * and "CANCELLED+" (sacct's fixed-width columns truncate with '+').
 */
export function normalizeSlurmState(raw: string): string {
  return raw.trim().replace(/^(CANCELLED)\s+by\s+\d+$/i, '$1').replace(/\+$/, '').toUpperCase();
}

export function lookupSlurmState(raw: string): SlurmStateInfo | undefined {
  return BY_KEY.get(normalizeSlurmState(raw));
}

export interface MappedState {
  state: QueueState;
  final?: FinalKind;
}

/**
 * A Slurm state (+ reason) to the engine's view.
 * - PENDING with reason JobHeldUser/JobHeldAdmin is 'held'.
 * - PENDING with reason DependencyNeverSatisfied can never run (22.05 keeps it pending forever
 *   unless the job had --kill-on-invalid-dep=yes, pitfall 13), so it is reported as finished with
 *   kind 'dependency' even though it is still in the queue: the engine should cancel it.
 * - Any state ending with reason DependencyNeverSatisfied (CANCELLED by --kill-on-invalid-dep)
 *   is kind 'dependency'.
 */
export function mapSlurmState(raw: string, reason?: string): MappedState {
  const info = lookupSlurmState(raw);
  if (!info) return { state: 'unknown' };
  if (reason === 'DependencyNeverSatisfied' && (info.name === 'PENDING' || info.name === 'CANCELLED')) {
    return { state: 'done', final: 'dependency' };
  }
  if (info.name === 'PENDING' && reason !== undefined && HELD_REASONS.has(reason)) return { state: 'held' };
  return info.final ? { state: info.state, final: info.final } : { state: info.state };
}
