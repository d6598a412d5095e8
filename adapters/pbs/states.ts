/**
 * PBS job state letters → the engine's QueueState.
 *
 * One literal table for both flavors. Where PBS Pro/OpenPBS and Torque give a letter different
 * meanings the entry carries both; where a letter only exists in one of them the other column
 * says what we do if it shows up anyway. Sources: the OpenPBS qstat(1B) man page (state list
 * under "Job Status in Default Format"), the Torque 6.1 qstat page (C E H Q R T W S), and the
 * Perl `qstat` of slurm-wlm-torque (`stateCode()`), which is what our test cluster runs.
 *
 * A letter missing from the table maps to 'unknown', which the engine never reads as success.
 */
import type { QueueState } from '../../src/domain/adapter.js';

export type PbsFlavor = 'pbspro' | 'torque';

export interface PbsStateEntry {
  pbspro: QueueState;
  torque: QueueState;
  /** Short meaning, for logs and docs/SCHEDULERS.md. */
  meaning: string;
}

export const PBS_STATES = {
  // Queued, eligible to run or be routed. Same in both; the wrappers print Q for every PENDING job, held or not.
  Q: { pbspro: 'pending', torque: 'pending', meaning: 'queued' },
  // Running. Same in both.
  R: { pbspro: 'running', torque: 'running', meaning: 'running' },
  // Exiting after having run: the script ended, PBS is staging out / running the epilogue. Not final yet
  // (PBS Pro may not have set Exit_status; Torque moves on to C), so it stays 'running'.
  E: { pbspro: 'running', torque: 'running', meaning: 'exiting after having run' },
  // Held by user, operator or system (PBS Pro also holds jobs waiting on a dependency with Hold_Types=s).
  H: { pbspro: 'held', torque: 'held', meaning: 'held' },
  // Waiting for its Execution_Time (qsub -a); PBS Pro also uses W for 30 min after a failed stage-in.
  W: { pbspro: 'pending', torque: 'pending', meaning: 'waiting for its start time' },
  // Transiting: being moved to a new location (routing queue or another server).
  T: { pbspro: 'pending', torque: 'pending', meaning: 'in transit' },
  // Suspended by the server (preemption) or an admin; still holds its nodes.
  S: { pbspro: 'suspended', torque: 'suspended', meaning: 'suspended' },
  // PBS Pro: cycle-harvesting job suspended because the workstation became busy.
  // Torque has no U. The slurm-wlm-torque wrappers print it from `stateCode()` for a Slurm base
  // state (flags such as COMPLETING masked off with JOB_STATE_BASE) that is none of PENDING,
  // RUNNING, SUSPENDED, COMPLETE, CANCELLED, FAILED, TIMEOUT, NODE_FAIL, PREEMPTED, BOOT_FAIL: in
  // Slurm 22.05 that leaves OUT_OF_MEMORY and DEADLINE, both final (checked on the test cluster's
  // /usr/bin/qstat; an OOM-killed job shows U for MinJobAge). So on the torque flavor U is 'done'
  // with no exit status, and the job's exit-code file decides how it ended (parse.ts finalFromRecord).
  U: { pbspro: 'suspended', torque: 'done', meaning: 'PBS Pro: user-suspended (workstation busy); wrappers: Slurm OUT_OF_MEMORY or DEADLINE' },
  // PBS Pro only (seen with qstat -x): finished, failed or deleted. How it ended is in Exit_status.
  F: { pbspro: 'done', torque: 'done', meaning: 'finished (PBS Pro job history)' },
  // PBS Pro only: a subjob of an array that finished or was deleted ("expired").
  X: { pbspro: 'done', torque: 'done', meaning: 'subjob finished or deleted' },
  // PBS Pro only: an array job with at least one subjob started. The array as a whole is running.
  B: { pbspro: 'running', torque: 'running', meaning: 'array begun' },
  // PBS Pro only: moved to another server (peer scheduling). The job lives on elsewhere, so it is
  // neither pending nor done from here: 'unknown' keeps the engine from concluding anything.
  M: { pbspro: 'unknown', torque: 'unknown', meaning: 'moved to another server' },
  // Torque: completed after having run, whatever the outcome (success, failure, qdel, walltime).
  // The wrappers print C for every finished Slurm job. PBS Pro never prints C for jobs.
  C: { pbspro: 'done', torque: 'done', meaning: 'completed (Torque; includes failed and cancelled jobs)' },
} as const satisfies Record<string, PbsStateEntry>;

export type PbsStateLetter = keyof typeof PBS_STATES;

export function isPbsStateLetter(s: string): s is PbsStateLetter {
  return Object.prototype.hasOwnProperty.call(PBS_STATES, s);
}

/** The QueueState for a job_state letter; anything we do not recognise is 'unknown'. */
export function pbsQueueState(letter: string | undefined, flavor: PbsFlavor): QueueState {
  const l = (letter ?? '').trim();
  if (!isPbsStateLetter(l)) return 'unknown';
  return PBS_STATES[l][flavor];
}
