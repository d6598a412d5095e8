/**
 * The job directory: where a job lives on the cluster and the name of every file the bridge
 * keeps in it. Pure (no I/O) so adapters, the engine, staging, the API and ops can all ask it.
 *
 *   <scratchRoot>/jobs/<instance>-<job id>/   the job directory; tasks run here
 *     <user files>               inputs, artifacts, outputs
 *     .hpcb/                     the bridge's own files (made before submission: schedulers
 *                                open their log files there before the script runs)
 *       job.sh                   the batch script
 *       submit.<attempt>.<try>.claim|out|err|rc   one exactly-once submit record per try
 *       instances                an array carrier's element directories, one line per element
 *       started                  "<epoch seconds>"  written when the script starts
 *       native_id                the scheduler's id of the job, written by the job itself
 *       task.<i>.stdout|stderr   task i's output (appended across task retries)
 *       task.<i>.exit            "<exit status>"  written when task i ends
 *       exit                     "<exit status> <failed task index or -1>"  written last
 *       terminated               "<SIGNAME> <epoch seconds> <running task index or -1>",
 *                                written instead of `exit` when the script is signalled
 *       limit                    "walltime" | "memory": a limit enforced outside a scheduler
 *       failure                  "<word> <task index>": why a task could not start (a podman
 *                                task's image or podman missing; adapters/common/podman.ts)
 *       scheduler[.<k>].out|err  the scheduler's own log of the script
 *       stagein.err              stderr of the last artifact placement
 *       outdirs/<i>.tar.gz       packed output directories
 *       <k>/                     the runner's files (started ... terminated) of array element k
 *
 * Every status file the runner writes is one line put down by a single write(2) of a few bytes
 * (no temporary name and rename: that cost an `mv` fork per file). A reader takes a file whose
 * line has no final newline (empty: opened but not yet written, or its writer killed in
 * between) as not written at all, which is what the rename used to guarantee.
 *
 *   <scratchRoot>/events.log     the account's append-only event log: one record per line, each
 *                                appended by a job script in one short O_APPEND write when it
 *                                starts and when it ends (EVENT_RECORD below); the daemon follows
 *                                it from a byte offset it stores (src/jobdir/events.ts)
 */
import { posix } from 'node:path';
import { BridgeError } from '../domain/errors.js';
import { EVENT_PHASES } from '../domain/state.js';

/** Directory (relative to the job dir) that holds the bridge's own files. */
export const HPCB_DIR = '.hpcb';

/** Where job `jobId` of database `instance` lives under a cluster's scratch root. */
export function jobDirFor(scratchRoot: string, instance: string, jobId: number): string {
  return posix.join(scratchRoot, 'jobs', `${instance}-${jobId}`);
}

/**
 * The event log of the Unix account whose scratch root this is. One file per account (not per
 * job) so that one follower per (cluster, account) sees every job of that account; records of
 * other daemons sharing the scratch root carry their own instance in the tag and are skipped.
 */
export function eventLogFor(scratchRoot: string): string {
  return posix.join(scratchRoot, 'events.log');
}

/**
 * One event record, one line of at most a few hundred bytes (below PIPE_BUF, so one write(2)
 * with O_APPEND lands whole even when many nodes append to the same file):
 *
 *   hpcb1 <tag> <scheduler id or -> <phase> <exit status or -> <epoch seconds, decimals>
 *
 * `phase` is `start` (the script began), `end` (it wrote `.hpcb/exit` first, then this) or
 * `term` (a signal ended it: `.hpcb/terminated` was written and the scheduler decides how).
 */
export const EVENT_RECORD = { version: 'hpcb1', phases: EVENT_PHASES } as const;

/** File names inside `.hpcb/` (or `.hpcb/<k>/` for the runner's files of element k). */
export const FILES = {
  jobScript: 'job.sh',
  instances: 'instances',
  started: 'started',
  nativeId: 'native_id',
  exit: 'exit',
  terminated: 'terminated',
  limit: 'limit',
  failure: 'failure',
  stageInErr: 'stagein.err',
  outdirs: 'outdirs',
} as const;

/**
 * What one attempt leaves behind as its testimony (relative to `.hpcb/`, `*` a task index): a
 * resubmission clears them so the previous attempt's files are not read as the new one's.
 */
export const ATTEMPT_FILES: readonly string[] = [FILES.exit, FILES.started, FILES.terminated, FILES.limit, FILES.failure, FILES.nativeId, 'task.*.exit'];

/** Stem of the exactly-once submit record of one (attempt, try) of a job, inside `.hpcb/`. */
export function submitRecordName(attempt: number, tryNo: number): string {
  return `submit.${attempt}.${tryNo}`;
}

/**
 * The one task of an array carrier's script: element k runs the batch script of the instance
 * whose job directory is line k+1 of the carrier's `instances` (an empty line: a cancelled
 * instance, nothing to run).
 */
export function carrierElementCommand(): string {
  return `d=$(sed -n "$((HPCB_ARRAY_INDEX + 1))p" ${HPCB_DIR}/${FILES.instances}); [ -n "$d" ] || exit 0; bash "$d/${HPCB_DIR}/${FILES.jobScript}"`;
}

/** Where packed output directories are written (relative to the job dir). */
export const OUTDIR_PACK_DIR = `${HPCB_DIR}/${FILES.outdirs}`;

function checkIndex(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new BridgeError('INTERNAL', `${what} must be a non-negative integer, got ${n}`);
}

/** `.hpcb`, or `.hpcb/<k>` for element k of an array job. Relative to the job directory. */
export function bridgeDir(arrayIndex?: number): string {
  if (arrayIndex === undefined) return HPCB_DIR;
  checkIndex('array index', arrayIndex);
  return `${HPCB_DIR}/${arrayIndex}`;
}

export function taskStdoutPath(task: number, arrayIndex?: number): string {
  checkIndex('task index', task);
  return `${bridgeDir(arrayIndex)}/task.${task}.stdout`;
}

export function taskStderrPath(task: number, arrayIndex?: number): string {
  checkIndex('task index', task);
  return `${bridgeDir(arrayIndex)}/task.${task}.stderr`;
}

export function taskExitPath(task: number, arrayIndex?: number): string {
  checkIndex('task index', task);
  return `${bridgeDir(arrayIndex)}/task.${task}.exit`;
}

export function startedPath(arrayIndex?: number): string {
  return `${bridgeDir(arrayIndex)}/${FILES.started}`;
}

export function exitPath(arrayIndex?: number): string {
  return `${bridgeDir(arrayIndex)}/${FILES.exit}`;
}

export function terminatedPath(arrayIndex?: number): string {
  return `${bridgeDir(arrayIndex)}/${FILES.terminated}`;
}

export function nativeIdPath(arrayIndex?: number): string {
  return `${bridgeDir(arrayIndex)}/${FILES.nativeId}`;
}

/**
 * Where an adapter points the scheduler's own stdout/stderr of the batch script. Flat names in
 * `.hpcb/` (not `.hpcb/<k>/`) because the scheduler opens them before the script can create a
 * per-element directory. The adapter renders its scheduler's pattern for the index.
 */
export function schedulerStdoutPath(arrayIndex?: number): string {
  if (arrayIndex === undefined) return `${HPCB_DIR}/scheduler.out`;
  checkIndex('array index', arrayIndex);
  return `${HPCB_DIR}/scheduler.${arrayIndex}.out`;
}

export function schedulerStderrPath(arrayIndex?: number): string {
  if (arrayIndex === undefined) return `${HPCB_DIR}/scheduler.err`;
  checkIndex('array index', arrayIndex);
  return `${HPCB_DIR}/scheduler.${arrayIndex}.err`;
}

/**
 * The words a memory kill leaves in a job's stderr (the scheduler's step daemon or the kernel):
 * polling enforcement writes "Exceeded job memory limit" and "exceeded memory limit (N > M)"
 * and reports only signal 9, so this text is the only sign it was memory; cgroup enforcement
 * writes "oom-kill event" and "out-of-memory handler". POSIX extended regular expressions that
 * JavaScript reads the same way, matched case-insensitively: the evidence program hands them to
 * `grep -iE` on the cluster and adapters test text with `looksLikeMemoryKill`.
 */
export const MEMORY_KILL_PATTERNS: readonly string[] = [
  'exceeded (job|step) memory limit',
  'exceeded memory limit \\([0-9]+ > [0-9]+\\)',
  'oom[-_ ]kill',
  'out[-_ ]of[-_ ]memory',
];

const MEMORY_KILL_RE = new RegExp(MEMORY_KILL_PATTERNS.join('|'), 'i');

export function looksLikeMemoryKill(stderrText: string): boolean {
  return MEMORY_KILL_RE.test(stderrText);
}
