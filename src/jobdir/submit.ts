/**
 * The submit program (programs/submit.sh): the scheduler's submit command for many jobs in one
 * exec, exactly once per (attempt, try) of each job.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { submitRecordName } from './layout.js';
import { programArgv } from './programs.js';

export interface SubmitItem {
  /** Index echoed back so the caller can match results. */
  key: string;
  jobDir: string;
  /** Submission attempt (policies.maximumRetries) and try within it (transient retries). */
  attempt: number;
  tryNo: number;
  /** Scheduler submit argv, run inside the job dir. */
  argv: readonly string[];
}

/** How many submit commands one batch runs at a time (groups of jobs in background subshells). */
export const SUBMIT_PARALLEL = 4;

export interface SubmitProgramOptions {
  /** Background groups of jobs submitting at once (default SUBMIT_PARALLEL). */
  parallel?: number;
  /** Where each group's lock file lives (shared by every login node, like the job dirs). Default: the first job dir's parent. */
  lockDir?: string;
  /** Unique per program run, part of the group lock file names. Default: random. */
  programId?: string;
}

/**
 * Exactly-once submission. Each (attempt, try) of a job has one record in its job dir,
 * `.hpcb/submit.<attempt>.<try>.*`, and exactly one program ever runs its submit command: the
 * one that creates `.claim` (O_EXCL, bash's noclobber; atomic on local and NFS file systems).
 * That program runs the command with stdout and stderr written to `.out` and `.err`, then its
 * exit status to `.rc`, the commit mark, all in the same remote command, so a daemon killed at
 * any instant finds the record on restart and running the program again returns the recorded
 * result instead of submitting again. HUP and PIPE are ignored so that a dropped SSH channel
 * cannot kill the shell between the submit and the record.
 *
 * Locks: each group of jobs (below) holds an flock on its own lock file for as long as it runs,
 * and every claim it makes names that file. A program that finds a claim without a finished
 * `.rc` (a restarted daemon while the first program still runs) waits on the named lock: once it
 * gets it, the claimer has finished or died, and the `.rc` (or its absence) is final. Without a
 * number there the answer is UNKNOWN: the submit may have happened, so the engine looks for the
 * job's tag (and its own testimony) before a new try, which gets a new record. The record is
 * never run twice. Callers pass jobs in one global order (the engine: ascending job id) and
 * groups are contiguous slices, so a group only waits on claims of jobs before its own position
 * and two programs can never wait on each other in a cycle.
 *
 * Cost: a fork and exec costs 10-25 ms on a busy login node (measured on the test cluster's VM),
 * as much as sbatch itself, so the only external command per new submission is the submit
 * command: the claim, the `.rc` (one printf of a few bytes) and the reads are builtins, and the
 * one flock is per group. Streams are sent as raw text when they are one line of id characters
 * (`r:<text>`, the usual sbatch/qsub answer), base64 otherwise. A submit command of the form
 * `bash -c <program> <name> <args...>` (the direct adapter's launcher) runs in a subshell of the
 * submit program (`eval`, with <args> as $1...): a fork per job instead of a fork and a new bash.
 *
 * Jobs of a batch are split into up to `parallel` groups, each run in a background subshell
 * (one fork per group, not per job), so several submissions are in flight at once. Every result
 * line is printed with one printf of well under PIPE_BUF bytes (streams are capped), so lines of
 * different groups never interleave.
 *
 * Output: one line per job: `@@HPCB-SUBMIT <key> <rc|NODIR|LOCKED|UNKNOWN> <stdout> <stderr>`,
 * each stream `-` (empty), `r:<text>` (text plus a newline) or base64.
 */
export function submitProgram(items: readonly SubmitItem[], opts: SubmitProgramOptions = {}): string[] {
  const parallel = Math.max(1, Math.floor(opts.parallel ?? SUBMIT_PARALLEL));
  const lockDir = opts.lockDir ?? (items[0] ? posix.dirname(items[0].jobDir) : '/tmp');
  const programId = opts.programId ?? randomBytes(6).toString('hex');
  const args = [String(parallel), posix.join(lockDir, `.hpcb-submit-${programId}-`)];
  for (const it of items) args.push(it.key, it.jobDir, submitRecordName(it.attempt, it.tryNo), String(it.argv.length), ...it.argv);
  return programArgv('submit', args);
}

export type SubmitRecord =
  | { key: string; kind: 'result'; exitCode: number; stdout: string; stderr: string }
  | { key: string; kind: 'nodir' }
  | { key: string; kind: 'locked' }
  /** A record exists but is incomplete: the submit may have happened (look for the tag). */
  | { key: string; kind: 'unknown' };

function decodeStream(s: string | undefined): string {
  if (!s || s === '-') return '';
  if (s.startsWith('r:')) return `${s.slice(2)}\n`;
  return Buffer.from(s, 'base64').toString('utf8');
}

export function parseSubmitProgramOutput(stdout: string): Map<string, SubmitRecord> {
  const out = new Map<string, SubmitRecord>();
  for (const line of stdout.split('\n')) {
    const m = /^@@HPCB-SUBMIT (\S+) (\S+) (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    const [, key, status, o, e] = m as unknown as [string, string, string, string, string];
    if (status === 'NODIR') out.set(key, { key, kind: 'nodir' });
    else if (status === 'LOCKED') out.set(key, { key, kind: 'locked' });
    else if (status === 'UNKNOWN') out.set(key, { key, kind: 'unknown' });
    else if (/^\d+$/.test(status)) out.set(key, { key, kind: 'result', exitCode: Number(status), stdout: decodeStream(o), stderr: decodeStream(e) });
  }
  return out;
}
