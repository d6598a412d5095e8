/**
 * Slurm command lines and the parsers of their output (sbatch, squeue, sacct, scancel, and a
 * tolerant scontrol reader). Pure: argv in, values out. Formats and quirks are those of Slurm
 * 22.05.8 as captured in test/fixtures/slurm-22.05, plus other sites' output in
 * test/fixtures/peers.
 */
import type { ExecResult, FinalInfo, FinalKind, Observation } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import { lookupSlurmState, mapSlurmState } from './states.js';

// ---------------------------------------------------------------------------------------------
// Small value parsers

/** Values Slurm prints for "nothing here". */
const EMPTY_VALUES = new Set(['', '(null)', 'N/A', 'None', 'Unknown', 'None assigned', 'NONE', 'n/a']);

function present(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  return EMPTY_VALUES.has(t) ? undefined : t;
}

/**
 * A Slurm duration in seconds: `MM:SS`, `HH:MM:SS`, `D-HH[:MM[:SS]]`, with optional `.fff`
 * (sacct TotalCPU). `365-00:00:00` is what 22.05 prints for "no limit" when the backfill
 * scheduler started the job. UNLIMITED, NOT_SET, INVALID, Partition_Limit and the like give
 * undefined.
 */
export function parseSlurmDuration(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?(?:\.(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  const [, days, a, b, c] = m;
  let h = 0;
  let min: number;
  let s: number;
  if (days !== undefined) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    h = Number(a);
    min = b === undefined ? 0 : Number(b);
    s = c === undefined ? 0 : Number(c);
  } else if (c !== undefined) {
    h = Number(a);
    min = Number(b);
    s = Number(c);
  } else if (b !== undefined) {
    min = Number(a);
    s = Number(b);
  } else {
    return undefined; // a bare number is minutes in some places and seconds in others: refuse
  }
  return Number(days ?? 0) * 86400 + h * 3600 + min * 60 + s;
}

export interface SlurmExitCode {
  /** Exit status, or null when a signal ended the job (Slurm then prints 0 before the colon). */
  exitCode: number | null;
  signal: number;
}

/** `ExitCode` as `<exit status>:<signal>` (sacct, scontrol): `3:0`, `0:9`, `0:15`, `0:125`. */
export function parseSlurmExitCode(text: string | undefined): SlurmExitCode | undefined {
  const m = /^(\d+):(\d+)$/.exec((text ?? '').trim());
  if (!m) return undefined;
  const exitCode = Number(m[1]);
  const signal = Number(m[2]);
  return { exitCode: signal !== 0 && exitCode === 0 ? null : exitCode, signal };
}

const MEMORY_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4, P: 1024 ** 5 };

/** sacct memory such as MaxRSS: `92856K`, `4776K`, `1.05G`, `0`, `` (empty → undefined). */
export function parseSlurmMemory(text: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGTP]?)$/i.exec((text ?? '').trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * MEMORY_UNITS[m[2]!.toUpperCase()]!);
}

export interface SlurmJobId {
  /** The job id (for array elements, the array's id). */
  jobId: string;
  /** Array element index (`123_4`). */
  arrayIndex?: number;
  /** A collapsed set of elements (`123_[5-9%2]` → `5-9%2`). */
  arrayExpr?: string;
  /** Heterogeneous job component (`123+1`). */
  hetOffset?: number;
  /** Step (`123.batch`, `123.extern`, `123.0`). */
  step?: string;
}

/** `123`, `123_4`, `123_[5-9]`, `123+1`, `123.batch`, `123_4.0`; undefined when it is none of those. */
export function parseSlurmJobId(text: string): SlurmJobId | undefined {
  const m = /^(\d+)(?:_(\d+)|_\[([^\]]*)\]|\+(\d+))?(?:\.([A-Za-z0-9_]+))?(?:;\S+)?$/.exec(text.trim());
  if (!m) return undefined;
  const id: SlurmJobId = { jobId: m[1]! };
  if (m[2] !== undefined) id.arrayIndex = Number(m[2]);
  if (m[3] !== undefined) id.arrayExpr = m[3];
  if (m[4] !== undefined) id.hetOffset = Number(m[4]);
  if (m[5] !== undefined) id.step = m[5];
  return id;
}

/** Do not let a hostile or garbled range (`1_[0-99999999]`) allocate millions of ids. */
const MAX_ARRAY_EXPANSION = 100_000;

/**
 * The element ids of a collapsed array id: `11_[2-5]` → 11_2 … 11_5; `7_[1,3,5-6%2]` → 7_1,
 * 7_3, 7_5, 7_6 (the `%N` throttle is dropped). Any other id is returned as it is. A truncated
 * expression (squeue cuts %i at 64 bytes) is returned unexpanded.
 */
export function expandArrayJobId(text: string): string[] {
  const m = /^(\d+)_\[([0-9,-]+)(?:%\d+)?\]$/.exec(text.trim());
  if (!m) return [text.trim()];
  const base = m[1]!;
  const out: string[] = [];
  for (const part of m[2]!.split(',')) {
    const r = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!r) return [text.trim()];
    const from = Number(r[1]);
    const to = r[2] === undefined ? from : Number(r[2]);
    if (to < from || out.length + (to - from + 1) > MAX_ARRAY_EXPANSION) return [text.trim()];
    for (let i = from; i <= to; i++) out.push(`${base}_${i}`);
  }
  return out;
}

/**
 * Split one line of delimited output into exactly `count` fields. Job names and comments may
 * contain any printable delimiter (the OSC fixture in test/fixtures/peers has a name containing 0x1F):
 * when a line has more fields than expected, the extra ones are joined back into the field at
 * `freeIndex` (fields left of it are counted from the left, those right of it from the right).
 * Missing trailing fields are ''.
 */
export function splitFields(line: string, delimiter: string, count: number, freeIndex?: number): string[] {
  const parts = line.split(delimiter);
  if (parts.length > count && freeIndex !== undefined && freeIndex < count) {
    const extra = parts.length - count;
    const joined = parts.slice(freeIndex, freeIndex + extra + 1).join(delimiter);
    return [...parts.slice(0, freeIndex), joined, ...parts.slice(freeIndex + extra + 1)];
  }
  while (parts.length < count) parts.push('');
  return parts.slice(0, count);
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * stderr of a Slurm client that says "try again later". Anything else from a failed sbatch is a
 * rejection of this job. Sources: Slurm's error strings and
 * test/fixtures/peers/scheduler_stderr_messages.txt.
 */
const TRANSIENT_MESSAGES: readonly RegExp[] = [
  /Socket timed out on send\/recv operation/i, // overloaded slurmctld (nextflow#2696, toil#2381)
  /Unable to contact slurm controller/i, // slurmctld down/unreachable; "(connect failure)" here
  /temporarily unable to accept job/i, // slurmctld busy: "Slurm temporarily unable to accept job"
  /Slurm temporarily unable/i,
  /Zero Bytes were transmitted or received/i, // munge/network hiccup
  /Problem talking to the database/i, // sacct while slurmdbd is down
  /Connection (?:timed out|refused|reset)/i,
  /Resource temporarily unavailable/i, // EAGAIN on a busy login node
  /Communication connection failure/i,
  /Transport endpoint is not connected/i,
  // Ambiguous on purpose: the same text covers MaxSubmitJobs (passes once jobs finish) and size
  // or time limits (never passes). Treated as transient: the job stays in `submitting` and is
  // tried again with backoff, its last error saying why, instead of failing work that would
  // have been accepted later.
  /Job violates accounting\/QOS policy/i,
];

export function isTransientSlurmMessage(stderr: string): boolean {
  return TRANSIENT_MESSAGES.some((re) => re.test(stderr));
}

function firstErrorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  // "Batch job submission failed: <reason>" is the controller's verdict; earlier error lines
  // are the client's detail (e.g. "invalid partition specified: nosuchpart").
  const failed = lines.find((l) => /submission failed/i.test(l)) ?? lines.find((l) => /error|fatal|unrecognized/i.test(l));
  return (failed ?? lines[0] ?? '').replace(/^(?:sbatch|squeue|sacct|scancel): (?:error: )?/, '');
}

function commandError(
  code: 'SUBMIT_REJECTED' | 'SCHEDULER_ERROR',
  what: string,
  command: string,
  r: ExecResult,
  transient: boolean,
): BridgeError {
  const detail = firstErrorLine(r.stderr) || firstErrorLine(r.stdout);
  const status = r.exitCode === null ? `signal ${r.signal ?? '?'}` : `exit status ${r.exitCode}`;
  return new BridgeError(code, `${what} (${status})${detail ? `: ${detail}` : ''}`, {
    transient,
    context: { command, exitCode: r.exitCode, signal: r.signal, stderr: r.stderr.trim(), stdout: r.stdout.trim() },
  });
}

// ---------------------------------------------------------------------------------------------
// sbatch

/**
 * The job id from `sbatch --parsable`: `29`, or `29;cluster` on a federated/multi-cluster setup.
 * The plain `Submitted batch job 29 [on cluster X]` form is accepted too (a site wrapper may
 * drop --parsable). A non-zero exit is SUBMIT_REJECTED (exit 1: the controller refused the job,
 * exit 255: sbatch refused an option) unless stderr says the controller was busy or unreachable,
 * which is a transient SCHEDULER_ERROR; so is a killed sbatch, whose outcome is unknown.
 */
export function parseSbatchSubmit(r: ExecResult): string {
  if (r.exitCode !== 0) {
    if (r.exitCode === null || isTransientSlurmMessage(r.stderr) || isTransientSlurmMessage(r.stdout)) {
      return throwing(commandError('SCHEDULER_ERROR', 'sbatch failed', 'sbatch', r, true));
    }
    return throwing(commandError('SUBMIT_REJECTED', 'Slurm rejected the job', 'sbatch', r, false));
  }
  const lines = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const parsable = /^(\d+)(?:;\S+)?$/.exec(line);
    if (parsable) return parsable[1]!;
    const plain = /^(?:sbatch: )?Submitted batch job (\d+)(?: on cluster \S+)?$/.exec(line);
    if (plain) return plain[1]!;
  }
  throw new BridgeError('PARSE_ERROR', 'sbatch exited 0 but printed no job id', {
    context: { command: 'sbatch', exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr },
  });
}

function throwing(e: BridgeError): never {
  throw e;
}

// ---------------------------------------------------------------------------------------------
// squeue

/**
 * Fields of the status poll, `|`-separated, name last so that a `|` in a job name (ours never
 * have one, but the poll sees all of the user's jobs) lands in the name:
 *   %i  job id as users see it (`123`, `123_4`)   %A  raw job id of the element
 *   %F  array's job id (the job id otherwise)     %K  array index (`N/A` otherwise)
 *   %T  long state name                           %r  reason
 *   %j  job name (carries the bridge's tag)
 */
export const SQUEUE_FIELDS = ['%i', '%A', '%F', '%K', '%T', '%r', '%j'] as const;
export const SQUEUE_FORMAT = SQUEUE_FIELDS.join('|');

/**
 * One squeue call for all of a user's jobs. `--states=all` keeps finished jobs visible for
 * MinJobAge (300 s by default); `--array` prints one line per array element, so pending
 * elements are not collapsed into `11_[2-5]` (whose %i is cut at 64 bytes). Querying by user,
 * never by `-j`, avoids 22.05's "Invalid job id specified" exit 1 for a purged id.
 */
/** `user` null: every user's jobs (a monitor identity's single poll for all users). */
export function squeueStatusCommand(user: string | null): string[] {
  if (user === null) return ['squeue', '--noheader', '--array', '--states=all', `--format=${SQUEUE_FORMAT}`];
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.@-]*\$?$/.test(user)) {
    throw new BridgeError('INVALID_CONFIG', `not a valid user name for squeue: ${JSON.stringify(user)}`);
  }
  return ['squeue', '--noheader', '--array', '--states=all', `--user=${user}`, `--format=${SQUEUE_FORMAT}`];
}

/** One squeue line, by meaning rather than by format letter. */
export interface SqueueRow {
  /** %i / JobArrayID: `123`, `123_4`, `123_[5-9]`. */
  id: string;
  /** %F / ArrayJobID. */
  arrayJobId?: string;
  /** %K / ArrayTaskID. */
  arrayTaskId?: string;
  /** %T long name or %t compact code. */
  state: string;
  reason?: string;
  name?: string;
}

/** Observations for one squeue row (several for a collapsed `123_[5-9]` row). */
export function observationsFromSqueueRow(row: SqueueRow): Observation[] {
  const reason = present(row.reason);
  const mapped = mapSlurmState(row.state, reason);
  const nativeState = row.state.trim();
  const ids = expandArrayJobId(row.id);
  return ids.map((nativeId) => {
    const obs: Observation = { nativeId, state: mapped.state, nativeState };
    const name = row.name?.trim();
    if (name) obs.name = name;
    if (reason !== undefined) obs.reason = reason;
    const parsed = parseSlurmJobId(nativeId);
    if (parsed?.arrayIndex !== undefined) {
      obs.arrayId = present(row.arrayJobId) ?? parsed.jobId;
      obs.arrayIndex = parsed.arrayIndex;
    }
    if (mapped.state === 'done') {
      obs.final = { kind: mapped.final ?? 'unknown', nativeState };
      if (reason !== undefined) obs.final.reason = reason;
      // PENDING with DependencyNeverSatisfied is reported finished (states.ts), yet 22.05 keeps
      // it in the queue until it is cancelled.
      if (lookupSlurmState(nativeState)?.name === 'PENDING') obs.stillQueued = true;
    }
    return obs;
  });
}

/** Parse output in SQUEUE_FORMAT (no header). */
export function parseSqueueRows(stdout: string): SqueueRow[] {
  const rows: SqueueRow[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    const f = splitFields(line, '|', SQUEUE_FIELDS.length, SQUEUE_FIELDS.length - 1);
    const [id, rawId, arrayJobId, arrayTaskId, state, reason, name] = f as [string, string, string, string, string, string, string];
    // %A (the raw job id) is always numeric: a check that keeps other pipe-separated output
    // (another scheduler's, an rc file's noise) from being read as job rows.
    if (!parseSlurmJobId(id) || !/^\d+$/.test(rawId.trim()) || state.trim() === '') {
      throw new BridgeError('PARSE_ERROR', `unexpected squeue line: ${JSON.stringify(line)}`, { context: { command: 'squeue', stdout } });
    }
    rows.push({ id: id.trim(), arrayJobId, arrayTaskId, state, reason, name });
  }
  return rows;
}

/**
 * A tolerant reader for squeue output in someone else's format: a header line (or `header`
 * given separately, for `--noheader` output) names the columns, and the columns that matter are
 * picked by name: JOBID, ARRAY_JOB_ID, ARRAY_TASK_ID, STATE (or ST), REASON, NAME. Squeue
 * labels both %i and %A (and -O JobID and JobArrayID) "JOBID"; per row, the one in array form
 * (`11_5`) wins, because it is the id users and this adapter use. The NAME column absorbs extra
 * delimiters. Fixed-width default output (`squeue` without -o) is split on runs of spaces.
 */
export function parseSqueueTable(text: string, delimiter: string | RegExp = '|', header?: readonly string[]): SqueueRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !/^squeue: /.test(l));
  const split = (l: string): string[] => (typeof delimiter === 'string' ? l.split(delimiter) : l.trim().split(delimiter));
  const cols = (header ?? split(lines.shift() ?? '')).map((h) => h.trim().toUpperCase());
  const idCols = cols.flatMap((c, i) => (c === 'JOBID' ? [i] : []));
  const at = (name: string): number => cols.indexOf(name);
  const stateCol = at('STATE') >= 0 ? at('STATE') : at('ST');
  const nameCol = at('NAME');
  if (idCols.length === 0 || stateCol < 0) throw new BridgeError('PARSE_ERROR', `squeue table without JOBID/STATE columns: ${cols.join(',')}`);
  return lines.map((line) => {
    const f =
      typeof delimiter === 'string'
        ? splitFields(line, delimiter, cols.length, nameCol >= 0 ? nameCol : undefined)
        : split(line);
    const ids = idCols.map((i) => (f[i] ?? '').trim());
    const row: SqueueRow = { id: ids.find((v) => v.includes('_')) ?? ids[0]!, state: f[stateCol] ?? '' };
    const get = (name: string): string | undefined => (at(name) >= 0 ? f[at(name)] : undefined);
    const arrayJobId = get('ARRAY_JOB_ID');
    const arrayTaskId = get('ARRAY_TASK_ID');
    const reason = get('REASON');
    const name = get('NAME');
    if (arrayJobId !== undefined) row.arrayJobId = arrayJobId;
    if (arrayTaskId !== undefined) row.arrayTaskId = arrayTaskId;
    if (reason !== undefined) row.reason = reason;
    if (name !== undefined) row.name = name;
    return row;
  });
}

/**
 * The status poll's result. A failed squeue is a failed poll (transient SCHEDULER_ERROR), never
 * "no jobs"; so is an empty output with an error on stderr (Slurm clients sometimes exit 0 after
 * an error; see test/fixtures/peers). Exit 0 with no output and a clean stderr means the user has no jobs.
 */
export function parseSqueueStatus(r: ExecResult): Observation[] {
  if (r.exitCode !== 0) {
    const transient = !/Invalid user/i.test(r.stderr);
    throw commandError('SCHEDULER_ERROR', 'squeue failed', 'squeue', r, transient);
  }
  if (r.stdout.trim() === '' && /error|fatal/i.test(r.stderr)) {
    throw commandError('SCHEDULER_ERROR', 'squeue printed an error and no jobs', 'squeue', r, true);
  }
  return parseSqueueRows(r.stdout).flatMap(observationsFromSqueueRow);
}

// ---------------------------------------------------------------------------------------------
// sacct

/**
 * Accounting fields (slurmdbd). JobName is last so that a `|` in a name cannot shift the others.
 * `sacct --json` is avoided on purpose: 22.05's dbv0.0.38 reports `exit 3` as return_code 0
 * (pitfall 11, fixture 13d).
 */
export const SACCT_FIELDS = ['JobID', 'JobIDRaw', 'State', 'ExitCode', 'Reason', 'Elapsed', 'MaxRSS', 'NodeList', 'Start', 'End', 'JobName'] as const;
/** `sacct -c` (jobcomp/filetxt) knows no MaxRSS, Reason or JobIDRaw (fixture 09a). */
export const SACCT_JOBCOMP_FIELDS = ['JobID', 'State', 'ExitCode', 'Elapsed', 'NodeList', 'Start', 'End', 'JobName'] as const;

/** Job ids the bridge passes to sacct/scancel: never anything that could be read as an option. */
const NATIVE_ID = /^\d+(?:_\d+|_\[[0-9,\-%]+\]|\+\d+)?$/;

export function checkNativeIds(ids: readonly string[], command: string): void {
  if (ids.length === 0) throw new BridgeError('INTERNAL', `${command} needs at least one job id`);
  for (const id of ids) {
    if (!NATIVE_ID.test(id)) throw new BridgeError('INTERNAL', `not a Slurm job id: ${JSON.stringify(id)}`, { context: { command } });
  }
}

/**
 * Accounting for a batch of ids. Without `--duplicates`, sacct returns only the most recent job
 * for an id, so a recycled id (ids restart after state loss, pitfall 16) gives the new job.
 * Without `--allocations`, step rows (`.batch`, `.extern`, `.0`) come too: they carry MaxRSS.
 * The engine should keep batches to a few hundred ids (argv limits).
 */
export function sacctCommand(ids: readonly string[], user: string, mode: 'slurmdbd' | 'jobcomp' = 'slurmdbd'): string[] {
  checkNativeIds(ids, 'sacct');
  if (mode === 'jobcomp') {
    // Proven form on 22.05 with jobcomp/filetxt: `sacct -c -P -j <id> -o ...` (fixtures 03d, 09a).
    return ['sacct', '-c', '--parsable2', '--noheader', `--format=${SACCT_JOBCOMP_FIELDS.join(',')}`, `--jobs=${ids.join(',')}`];
  }
  squeueStatusCommand(user); // same user-name check
  return ['sacct', '--parsable2', '--noheader', `--format=${SACCT_FIELDS.join(',')}`, `--jobs=${ids.join(',')}`, `--user=${user}`];
}

/** Rows of `sacct --parsable2` output as records keyed by field name (name field absorbs `|`). */
export function parseSacctRecords(stdout: string, fields: readonly string[], delimiter = '|'): Record<string, string>[] {
  const nameIndex = fields.indexOf('JobName');
  const out: Record<string, string>[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    // Client noise such as "sacct: error: Unknown type ArrayJobId: 11" (jobcomp mode) belongs to
    // stderr, but captures interleave it; it is never a data row.
    if (/^sacct: /.test(line)) continue;
    const values = splitFields(line, delimiter, fields.length, nameIndex >= 0 ? nameIndex : undefined);
    const rec: Record<string, string> = {};
    fields.forEach((f, i) => (rec[f] = values[i] ?? ''));
    out.push(rec);
  }
  return out;
}

/** FinalInfo for one allocation row, or undefined if that row is not finished. */
export function finalFromSacctRecord(rec: Record<string, string>): FinalInfo | undefined {
  const rawState = (rec.State ?? '').trim();
  const reason = present(rec.Reason);
  const mapped = mapSlurmState(rawState, reason);
  if (mapped.state !== 'done') return undefined;
  let kind: FinalKind = mapped.final ?? 'unknown';
  // --kill-on-invalid-dep cancels with a bare "CANCELLED" and Reason "Dependency" (fixture 07i);
  // a person's scancel is recorded as "CANCELLED by <uid>".
  if (kind === 'cancelled' && !/\bby\b/i.test(rawState) && reason === 'Dependency') kind = 'dependency';
  const info: FinalInfo = { kind, nativeState: rawState };
  const ec = parseSlurmExitCode(rec.ExitCode);
  if (ec) {
    info.exitCode = ec.exitCode;
    info.signal = ec.signal;
  }
  if (reason !== undefined) info.reason = reason;
  const elapsed = parseSlurmDuration(rec.Elapsed);
  if (elapsed !== undefined) info.elapsedSeconds = elapsed;
  const rss = parseSlurmMemory(rec.MaxRSS);
  if (rss !== undefined) info.maxRssBytes = rss;
  const nodes = present(rec.NodeList);
  if (nodes !== undefined) info.nodeList = nodes;
  const start = present(rec.Start);
  if (start !== undefined) info.startTime = start;
  const end = present(rec.End);
  if (end !== undefined) info.endTime = end;
  return info;
}

/**
 * Finished jobs from sacct records, keyed by JobID as sacct prints it: `123`, and `123_4` for
 * array elements (there is no entry for a bare array id). Step rows only contribute their
 * MaxRSS (the largest) to their job. Rows that are not finished (PENDING, RUNNING: sacct lags
 * squeue by up to ~0.5 s) are left out: absence means "no final record yet".
 */
export function finalInfoFromSacct(records: readonly Record<string, string>[]): Map<string, FinalInfo> {
  const finals = new Map<string, FinalInfo>();
  const stepRss = new Map<string, number>();
  for (const rec of records) {
    const id = (rec.JobID ?? '').trim();
    if (!id) continue;
    const dot = id.indexOf('.');
    if (dot >= 0) {
      const parent = id.slice(0, dot);
      const rss = parseSlurmMemory(rec.MaxRSS);
      if (rss !== undefined) stepRss.set(parent, Math.max(stepRss.get(parent) ?? 0, rss));
      continue;
    }
    const info = finalFromSacctRecord(rec);
    if (!info) continue;
    for (const key of expandArrayJobId(id)) finals.set(key, { ...info });
  }
  for (const [id, rss] of stepRss) {
    const f = finals.get(id);
    if (f) f.maxRssBytes = Math.max(f.maxRssBytes ?? 0, rss);
  }
  return finals;
}

/**
 * sacct's result. A failure is a transient SCHEDULER_ERROR (slurmdbd down), except "Slurm
 * accounting storage is disabled" (fixture 09b), which no retry fixes: the cluster's adapter
 * must be configured with accounting 'jobcomp' or 'none'.
 */
export function parseSacctAccounting(r: ExecResult, mode: 'slurmdbd' | 'jobcomp' = 'slurmdbd'): Map<string, FinalInfo> {
  if (r.exitCode !== 0) {
    if (/accounting storage is disabled|not configured with slurmdbd/i.test(r.stderr + r.stdout)) {
      throw commandError('SCHEDULER_ERROR', 'sacct has no accounting storage on this cluster (set the adapter\'s accounting option)', 'sacct', r, false);
    }
    throw commandError('SCHEDULER_ERROR', 'sacct failed', 'sacct', r, true);
  }
  const fields = mode === 'jobcomp' ? SACCT_JOBCOMP_FIELDS : SACCT_FIELDS;
  return finalInfoFromSacct(parseSacctRecords(r.stdout, fields));
}

// ---------------------------------------------------------------------------------------------
// scancel

export function scancelCommand(ids: readonly string[]): string[] {
  checkNativeIds(ids, 'scancel');
  return ['scancel', ...ids];
}

/** Errors scancel may print for a job that is already over; they are not a failed cancel. */
const ALREADY_GONE = /Invalid job id specified|already completing or completed|Job has already finished/i;

/**
 * scancel is silent and exits 0 for unknown and finished jobs (fixture 10k); with several ids it
 * may print per-job errors and exit 1 when some were already gone, which is still success.
 */
export function parseScancel(r: ExecResult): void {
  if (r.exitCode === 0) return;
  const errors = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  if (r.exitCode !== null && errors.length > 0 && errors.every((l) => ALREADY_GONE.test(l))) return;
  const transient = r.exitCode === null || isTransientSlurmMessage(r.stderr);
  throw commandError('SCHEDULER_ERROR', 'scancel failed', 'scancel', r, transient);
}

// ---------------------------------------------------------------------------------------------
// scontrol show job (not used by the adapter's poll; for diagnostics and for fixtures)

/**
 * Records of `scontrol show job` in either layout: one line per job (`-o`) or the multi-line
 * form. Keys are CamelCase words (`JobId`, `MCS_label`, `CPUs/Task`, `ReqB:S:C:T`); a value runs
 * to the next ` Key=`, so `Command=/path/script.sh 300` keeps its arguments. Values containing
 * ` Word=` with a capitalised Word would be split there; ExitCode/JobState/Reason come before
 * Command and are not affected.
 */
export function parseScontrolShowJob(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let cur: Record<string, string> | undefined;
  const keyRe = /(?:^|\s)([A-Z][A-Za-z0-9_/:]*)=/g;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // A JobId= line starts a record; so does the first key=value line of a fragment that was
    // grepped out of scontrol output (fixture 05c).
    if (/^JobId=/.test(line) || (!cur && /^\s*[A-Z][A-Za-z0-9_/:]*=/.test(line))) {
      cur = {};
      out.push(cur);
    }
    if (!cur) continue;
    const keys: { key: string; start: number; valueStart: number }[] = [];
    for (const m of line.matchAll(keyRe)) {
      const start = m.index + m[0].length - m[1]!.length - 1;
      keys.push({ key: m[1]!, start, valueStart: m.index + m[0].length });
    }
    keys.forEach((k, i) => {
      const end = i + 1 < keys.length ? keys[i + 1]!.start : line.length;
      cur![k.key] = line.slice(k.valueStart, end).trim();
    });
  }
  return out;
}

/** An Observation (with exit code) from one scontrol record. */
export function observationFromScontrol(rec: Record<string, string>): Observation | undefined {
  const jobId = rec.JobId;
  const state = rec.JobState;
  if (!jobId || !state) return undefined;
  const arrayJobId = present(rec.ArrayJobId);
  const arrayTaskId = present(rec.ArrayTaskId);
  const nativeId = arrayJobId && arrayTaskId && /^\d+$/.test(arrayTaskId) ? `${arrayJobId}_${arrayTaskId}` : jobId;
  const rows = observationsFromSqueueRow({ id: nativeId, arrayJobId, arrayTaskId, state, reason: rec.Reason, name: rec.JobName });
  const obs = rows[0];
  if (!obs) return undefined;
  if (obs.final) {
    const ec = parseSlurmExitCode(rec.ExitCode);
    if (ec) {
      obs.final.exitCode = ec.exitCode;
      obs.final.signal = ec.signal;
    }
    const elapsed = parseSlurmDuration(rec.RunTime);
    if (elapsed !== undefined) obs.final.elapsedSeconds = elapsed;
    const nodes = present(rec.NodeList);
    if (nodes !== undefined) obs.final.nodeList = nodes;
    const start = present(rec.StartTime);
    if (start !== undefined) obs.final.startTime = start;
    const end = present(rec.EndTime);
    if (end !== undefined) obs.final.endTime = end;
  }
  return obs;
}

// ---------------------------------------------------------------------------------------------
// Memory kills
//
// slurmstepd writes its words for a memory kill into the job's stderr:
// - polling enforcement (no cgroups, JobAcctGatherParams=OverMemoryKill): "StepId=10.batch
//   exceeded memory limit (95277056 > 52428800), being killed" and "Exceeded job memory limit";
//   the job ends FAILED with ExitCode 0:9 (fixture 05b), so only this text tells it was memory;
// - cgroup enforcement: "Detected 1 oom-kill event(s) in StepId=210.batch ... killed by the
//   cgroup out-of-memory handler" with state OUT_OF_MEMORY, 0:125 (fixture 05c).
// The patterns are the job-directory protocol's, shared with the evidence program.
export { looksLikeMemoryKill } from '../../src/jobdir/layout.js';
