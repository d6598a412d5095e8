/**
 * The contract between the engine and a scheduler adapter (adapters/slurm, adapters/pbs,
 * adapters/direct). Adapters are pure: they turn values into argv and scripts, and command
 * output back into values. They never hold a transport, so their tests need nothing but the
 * real captured outputs under test/fixtures.
 *
 * The engine owns when commands run, batching (one status command per cluster per poll),
 * exactly-once submission (src/jobdir/submit.ts) and the meaning of a job that left the
 * queue (only the exit-code file or accounting can say it ended well).
 */
import type { JobSpec } from './jobSpec.js';

/**
 * What one command returned, as adapters parse it. Defined here rather than in the transport so
 * adapters read command output without depending on how it was fetched; the transport re-exports it.
 */
export interface ExecResult {
  /** Exit status, or null when the command was ended by a signal. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** The scheduler's view of one job, reduced to what the engine needs. */
export type QueueState =
  | 'pending'     // waiting to start (includes configuring, requeued)
  | 'held'        // pending and held by user/admin; stays active
  | 'running'     // running or completing
  | 'suspended'   // stopped but still allocated
  | 'done'        // the scheduler considers it finished; see `final` for how
  | 'unknown';    // a code we do not recognise: never guessed as success

/** How a finished job ended according to the scheduler (not the job's own exit file). */
export type FinalKind =
  | 'completed'      // scheduler says success (exit 0)
  | 'failed'         // non-zero exit or launch failure
  | 'cancelled'      // scancel/qdel, by the user, the bridge or an admin
  | 'timeout'        // walltime exceeded
  | 'out_of_memory'  // memory limit exceeded
  | 'node_fail'      // node failure
  | 'preempted'
  | 'boot_fail'
  | 'deadline'
  | 'dependency'     // never ran because a dependency can never be satisfied
  | 'unknown';       // finished, but the scheduler does not say how (e.g. Torque wrappers' C)

export interface FinalInfo {
  kind: FinalKind;
  /** Exit status of the batch script, when the scheduler reports one. */
  exitCode?: number | null;
  /** Signal number that ended it, when reported. */
  signal?: number | null;
  nativeState: string;
  reason?: string;
  elapsedSeconds?: number;
  maxRssBytes?: number;
  nodeList?: string;
  startTime?: string;
  endTime?: string;
}

export interface Observation {
  /** Scheduler id as the scheduler prints it: "123", "123_4" (array element), "123.server". */
  nativeId: string;
  /** The job name, which carries the bridge's tag. */
  name?: string;
  state: QueueState;
  /** The raw state code, kept for display and logs (e.g. "PENDING", "R", "C"). */
  nativeState: string;
  /** The scheduler's pending/hold reason, kept for display (e.g. "Resources"). */
  reason?: string;
  /** For array elements: the parent array id and the element index. */
  arrayId?: string;
  arrayIndex?: number;
  /** Present when state is 'done' and the status output already says how it ended. */
  final?: FinalInfo;
  /**
   * With state 'done': the job can never run (e.g. its dependency can never be satisfied) but
   * the scheduler still holds it in its queue, so the engine cancels it there before it ends.
   */
  stillQueued?: boolean;
}

/** Everything a script needs besides the job definition. */
export interface ScriptContext {
  /** Absolute job directory on the cluster; tasks run here. */
  jobDir: string;
  /** The bridge's tag, used as the scheduler job name (see src/engine/tag.ts). */
  tag: string;
  /** Absolute path of the account's event log (src/jobdir/layout.ts); absent: no records. */
  eventLog?: string;
  bridgeJobId: number;
  attempt: number;
  /** Cluster defaults applied when the definition leaves them out. */
  defaults: { queue?: string; account?: string; qos?: string };
  /** For workflows: run as an array of `size` elements, at most `parallel` at once. */
  array?: { size: number; parallel?: number };
  /** For workflows: native ids this job must wait for (afterok). */
  afterOk?: string[];
  /** Extra environment exported to every task (e.g. workflow parameters). */
  env?: Record<string, string>;
  /** Walltime in seconds when the definition sets one (for adapters that enforce it themselves). */
  walltimeSeconds?: number;
}

/**
 * How a scheduler names the elements of a native job array. Present only on adapters whose
 * scheduler runs a workflow factory as one array submission *and* lists each element in its
 * status output under an id the bridge can compute from the array's id and the index.
 */
export interface NativeArrays {
  /** The id of element `index` of the array that was submitted as `arrayId` (Slurm `123_4`, PBS `123[4].server`). */
  elementId(arrayId: string, index: number): string;
  /** The array id and index behind an element id, or undefined when `id` is not an element id. */
  parseElementId(id: string): { arrayId: string; index: number } | undefined;
  /** Smallest array the scheduler accepts (smaller factories are submitted job by job). Default 1. */
  minElements?: number;
  /**
   * Most elements one array submission may have (indices 0 to maxElements - 1); a larger
   * factory is submitted as several arrays of at most this many elements. Default: no limit.
   */
  maxElements?: number;
}

/**
 * A question to the login node about which scheduler answers there, and its judgement against
 * what the adapter was configured for. One login node can carry several look-alike commands
 * (PBS Pro's qsub and Slurm's Torque wrapper are both `qsub`), and the wrong one takes the job
 * and answers polls in a dialect this adapter misreads.
 */
export interface SchedulerProbe {
  command: string[];
  /**
   * 'match': the configured dialect answers. 'mismatch': another one does; `detail` names both.
   * 'unknown': the answer names no dialect (a site wrapper, an old release): never guessed.
   */
  judge(r: ExecResult): { verdict: 'match' | 'mismatch' | 'unknown'; detail: string };
}

/** An HTTP request the engine sends over a stream to the REST daemon's socket. */
export interface RestRequest {
  method: 'POST' | 'GET';
  path: string;
  /** JSON text. */
  body?: string;
}

export interface RestSubmit {
  /** The socket of the REST daemon that serves `user` (its path on the login node). */
  socket(user: string): string;
  /** The submit request for a job; undefined when this job needs the submit command instead. */
  submitRequest(spec: JobSpec, ctx: ScriptContext, script: string): RestRequest | undefined;
  /**
   * The native id from the daemon's answer; throws BridgeError SUBMIT_REJECTED (the daemon
   * refused this job) or SCHEDULER_ERROR (transient), with the daemon's own words as context.
   */
  parseSubmit(status: number, body: string): string;
}

export interface SchedulerAdapter {
  readonly name: 'slurm' | 'pbs' | 'direct';
  /** Asked once before the engine first submits or polls on the cluster; absent: nothing to tell apart. */
  readonly probe?: SchedulerProbe;
  /** Native job arrays (workflow factories as one submission); absent: one submission per instance. */
  readonly arrays?: NativeArrays;
  /**
   * True when the scheduler itself holds a job until listed ids ended well (ScriptContext.afterOk,
   * with an array's id standing for all its elements); absent: the engine alone holds children back.
   */
  readonly nativeDependencies?: boolean;
  /**
   * True when a script's end record cannot say on its own that the job ended: the scheduler may
   * have been killing the job (to run it again, or to end it its own way) when the script wrote
   * it. Such a record only brings the status poll back at its fast interval, and the scheduler's
   * word moves the job; a start record still counts at once.
   */
  readonly endRecordNeedsScheduler?: boolean;
  /**
   * The part of an id that does not depend on how it was printed (PBS: the server suffix may
   * differ between qsub's answer and qstat). Ids are compared through it when present.
   */
  normalizeId?(id: string): string;
  /** Full batch script text: directives + the shared task runner. */
  renderScript(spec: JobSpec, ctx: ScriptContext): string;
  /** argv that submits the script at `scriptPath` (run inside the job directory). */
  submitCommand(scriptPath: string, ctx: ScriptContext): string[];
  /** The native id from a submit command's result; throws BridgeError SUBMIT_REJECTED / SCHEDULER_ERROR. */
  parseSubmit(r: ExecResult): string;
  /** One command for the status of all of `user`'s jobs. */
  /**
   * `user` null asks for every user's jobs (a cluster's monitor identity); only adapters that
   * set `statusForAll` are asked that.
   */
  statusCommand(user: string | null): string[];
  /** The status command can list every user's jobs in one command (Slurm's squeue). */
  statusForAll?: boolean;
  /** Throws BridgeError SCHEDULER_ERROR if the command itself failed: a failed poll is not "no jobs". */
  parseStatus(r: ExecResult): Observation[];
  /** Accounting for finished jobs, batched. Absent when the scheduler keeps no history. */
  accountingCommand?(nativeIds: readonly string[], user: string): string[];
  parseAccounting?(r: ExecResult): Map<string, FinalInfo>;
  /**
   * The native state of a job no poll and no accounting ever described (it started and ended
   * between two polls), from its own testimony: what the scheduler would have called it.
   * Absent: such a job keeps no native state.
   */
  nativeStateFromTestimony?(t: { exitCode: number | null; terminatedBy: string | null }): string | undefined;
  /**
   * Submission through a REST daemon on a Unix socket of the login node, reached over the
   * transport (optional; configured per cluster). Pure, like the rest: the engine carries the
   * request and hands back the answer.
   */
  rest?: RestSubmit;
  /** Cancel; a job that already ended is not an error. */
  cancelCommand(nativeIds: readonly string[]): string[];
  /** Throws only when cancellation truly failed. */
  parseCancel(r: ExecResult): void;
  /**
   * argv (run from the login node as the job's own account) that runs `inner` inside the running
   * job `nativeId`'s allocation, in `jobDir`, and has the scheduler end it a little after
   * `timeoutSeconds` if it is still there (`inner` ends itself at the limit). Absent: the
   * scheduler offers no safe way in, and `execRefusal` says why.
   */
  execInJob?(nativeId: string, inner: readonly string[], opts: { jobDir: string; timeoutSeconds: number }): string[];
  /** Why commands cannot be run inside this scheduler's running jobs (shown to the user who asks). */
  readonly execRefusal?: string;
}
