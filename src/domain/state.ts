/**
 * The job state machine. `state` is the persisted internal phase; `status` is the public
 * PROMINENCE-style status derived from it. Every change goes through Store.transition, which
 * checks it against NEXT below inside one guarded SQLite transaction with an event row.
 */
export const JOB_STATES = [
  'accepted',     // validated and persisted; nothing remote has happened
  'staging_in',   // job directory, inputs, artifacts and script being put on the cluster
  'submitting',   // the locked, recorded submit command may have run; native id not yet known here
  'queued',       // the scheduler has it and it has not started (held is a reason, not a state)
  'running',      // running (or completing) on the cluster
  'finishing',    // left the queue or reported done: deciding the outcome from evidence
  'staging_out',  // outcome decided; collecting outputs whatever it was
  'completed',    // every task exited 0
  'failed',       // a task failed, or the bridge/scheduler could not run it
  'killed',       // walltime or memory limit exceeded
  'deleted',      // cancelled by the user
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: readonly JobState[] = ['completed', 'failed', 'killed', 'deleted'];
export const ACTIVE_STATES: readonly JobState[] = JOB_STATES.filter((s) => !TERMINAL_STATES.includes(s));

export function isTerminal(s: JobState): boolean {
  return TERMINAL_STATES.includes(s);
}

/**
 * Allowed transitions. Skips happen where reality skips (a job can start and end between two
 * polls: queued -> finishing). Going back from finishing/staging_out to staging_in is a
 * resubmission under policies.maximumRetries.
 */
export const NEXT: Record<JobState, readonly JobState[]> = {
  accepted: ['staging_in', 'deleted', 'failed'],
  staging_in: ['submitting', 'deleted', 'failed'],
  submitting: ['queued', 'running', 'finishing', 'failed', 'deleted'],
  queued: ['running', 'finishing', 'failed'],
  running: ['queued', 'finishing', 'failed'],
  finishing: ['staging_out', 'staging_in', 'failed', 'deleted'],
  staging_out: ['completed', 'failed', 'killed', 'deleted', 'staging_in'],
  completed: [],
  failed: [],
  killed: [],
  deleted: [],
};

export function canTransition(from: JobState, to: JobState): boolean {
  return NEXT[from].includes(to);
}

export const PUBLIC_STATUSES = ['pending', 'idle', 'running', 'completed', 'failed', 'killed', 'deleted'] as const;
export type PublicStatus = (typeof PUBLIC_STATUSES)[number];

export function publicStatus(s: JobState): PublicStatus {
  switch (s) {
    case 'accepted':
    case 'staging_in':
    case 'submitting':
      return 'pending';
    case 'queued':
      return 'idle';
    case 'running':
    case 'finishing':
    case 'staging_out':
      return 'running';
    default:
      return s;
  }
}

/** The outcome decided in `finishing`, applied after stage-out. */
export interface Outcome {
  status: 'completed' | 'failed' | 'killed' | 'deleted';
  reason: string;
  exitCode?: number | null;
  /** Whether maximumRetries may resubmit (node failure, lost, launch failure: not the job's own exit). */
  retryable?: boolean;
}

/**
 * What a job's script said in the event log (src/jobdir/layout.ts, EVENT_RECORD): it started,
 * it ended after writing its exit file, or a signal ended it (the scheduler then says how).
 */
export const EVENT_PHASES = ['start', 'end', 'term'] as const;
export type EventPhase = (typeof EVENT_PHASES)[number];
