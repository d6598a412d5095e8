/**
 * The few remote shell programs the engine runs, scheduler-neutral. Each is rendered as one
 * bash program and sent as a single argv element (`bash -c <program>`), with every path and
 * argument inside it quoted by shellQuote. They batch work for many jobs into one exec, so the
 * login node sees one SSH channel per step rather than one per job.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { shellJoin, shellQuote } from '../domain/quote.js';

/** Directory (relative to the job dir) that holds the bridge's own files. */
export const HPCB_DIR = '.hpcb';

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
/** Bytes of a submit command's stdout or stderr sent back (base64 lines must stay short, see below). */
const SUBMIT_STREAM_CAP = 2048;

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
 * never run twice. Callers pass jobs in one global order (the reconciler: ascending job id) and
 * groups are contiguous slices, so a group only waits on claims of jobs before its own position
 * and two programs can never wait on each other in a cycle.
 *
 * Cost: a fork and exec costs 10-25 ms on a busy login node (measured on the test cluster's VM),
 * as much as sbatch itself, so the only external command per new submission is the submit
 * command: the claim, the `.rc` (one printf of a few bytes) and the reads are builtins, and the
 * one flock is per group. Streams are sent as raw text when they are one line of id characters
 * (`r:<text>`, the usual sbatch/qsub answer), base64 otherwise.
 *
 * Jobs of a batch are split into up to `parallel` groups, each run in a background subshell
 * (one fork per group, not per job), so several submissions are in flight at once. Every result
 * line is printed with one printf of well under PIPE_BUF bytes (streams are capped), so lines of
 * different groups never interleave.
 *
 * Output: one line per job: `@@HPCB-SUBMIT <key> <rc|NODIR|LOCKED|UNKNOWN> <stdout> <stderr>`,
 * each stream `-` (empty), `r:<text>` (text plus a newline) or base64.
 */
export function renderSubmitProgram(items: readonly SubmitItem[], opts: SubmitProgramOptions = {}): string {
  const parallel = opts.parallel ?? SUBMIT_PARALLEL;
  const lockDir = opts.lockDir ?? (items[0] ? posix.dirname(items[0].jobDir) : '/tmp');
  const programId = opts.programId ?? randomBytes(6).toString('hex');
  const lines = [
    'trap "" HUP PIPE',
    // One line of the characters scheduler ids are made of (`123`, `123;cluster`, `123.server`,
    // a PBS array `123[].server`); `]` first in the bracket is literal.
    "idre='^[][A-Za-z0-9_.:@;-]+$'",
    // enc FILE: sets REPLY to the encoded stream. `read -d ""` returns non-zero only at EOF, so a
    // zero status means the file holds a NUL byte and takes the base64 path.
    'enc() {',
    '  if [ ! -s "$1" ]; then REPLY=-; return; fi',
    '  local c=',
    String.raw`  if ! IFS= read -r -d "" c < "$1" && [[ $c == *$'\n' ]]; then`,
    "    c=${c%$'\\n'}",
    `    if [[ \${#c} -le ${SUBMIT_STREAM_CAP} && $c =~ $idre ]]; then REPLY="r:$c"; return; fi`,
    '  fi',
    `  REPLY=$(head -c ${SUBMIT_STREAM_CAP} "$1" | base64 -w0)`,
    '}',
    // group_start LOCKFILE: take this group's lock (fd 8) for as long as the group runs.
    'group_start() {',
    '  glock=$1',
    '  exec 8>> "$glock" && flock -w 60 8 || glock=',
    '}',
    'submit_one() {',
    '  local key=$1 dir=$2 rec=$3 rc= owner= claimed=1',
    '  shift 3',
    '  if ! cd "$dir" 2>/dev/null; then printf "@@HPCB-SUBMIT %s NODIR - -\\n" "$key"; return; fi',
    '  # A finished record: a re-run after a crash or a lost answer.',
    '  [ -f ".hpcb/$rec.rc" ] && read -r rc < ".hpcb/$rec.rc"',
    '  if [[ ! $rc =~ ^[0-9]+$ ]]; then',
    '    [ -d .hpcb ] || mkdir -p .hpcb',
    '    if [ -z "$glock" ]; then printf "@@HPCB-SUBMIT %s LOCKED - -\\n" "$key"; return; fi',
    '    set -C',
    '    { printf "%s\\n" "$glock" > ".hpcb/$rec.claim"; } 2>/dev/null && claimed=0',
    '    set +C',
    '    if [ "$claimed" = 0 ] && [ ! -e ".hpcb/$rec.rc" ]; then',
    '      # Ours alone. fds 8 and 9 closed for the command: a job it starts (direct mode) must not hold a lock.',
    '      "$@" 8>&- 9>&- > ".hpcb/$rec.out" 2> ".hpcb/$rec.err" < /dev/null',
    '      rc=$?',
    '      printf "%s\\n" "$rc" > ".hpcb/$rec.rc"',
    '    elif [ "$claimed" = 0 ]; then',
    '      rc=UNKNOWN',
    '    else',
    '      # Claimed by another program: wait until its group is over (finished or dead), then read.',
    '      read -r owner < ".hpcb/$rec.claim"',
    '      if [ -z "$owner" ]; then sleep 1; read -r owner < ".hpcb/$rec.claim"; fi',
    '      if [ -n "$owner" ] && [ "$owner" != "$glock" ]; then',
    '        exec 9>> "$owner"',
    '        if ! flock -w 300 9; then exec 9>&-; printf "@@HPCB-SUBMIT %s LOCKED - -\\n" "$key"; return; fi',
    '        exec 9>&-',
    '      fi',
    '      rc=',
    '      [ -f ".hpcb/$rec.rc" ] && read -r rc < ".hpcb/$rec.rc"',
    '      [[ $rc =~ ^[0-9]+$ ]] || rc=UNKNOWN',
    '    fi',
    '  fi',
    '  if [ "$rc" = UNKNOWN ]; then printf "@@HPCB-SUBMIT %s UNKNOWN - -\\n" "$key"; return; fi',
    '  local o',
    '  enc ".hpcb/$rec.out"; o=$REPLY',
    '  enc ".hpcb/$rec.err"',
    '  printf "@@HPCB-SUBMIT %s %s %s %s\\n" "$key" "$rc" "$o" "$REPLY"',
    '}',
  ];
  const calls = items.map((it) => `submit_one ${shellQuote(it.key)} ${shellQuote(it.jobDir)} ${shellQuote(`submit.${it.attempt}.${it.tryNo}`)} ${shellJoin(it.argv)}`);
  const groups = Math.max(1, Math.min(Math.floor(parallel), calls.length));
  const lockFile = (g: number) => shellQuote(posix.join(lockDir, `.hpcb-submit-${programId}-${g}.lock`));
  if (groups <= 1) {
    lines.push(`group_start ${lockFile(0)}`, ...calls, `[ -z "$glock" ] || rm -f -- "$glock"`);
  } else {
    // Contiguous slices, so the scheduler sees each group's jobs in the caller's order.
    for (let g = 0; g < groups; g++) {
      const slice = calls.slice(Math.floor((g * calls.length) / groups), Math.floor(((g + 1) * calls.length) / groups));
      lines.push('(', `group_start ${lockFile(g)}`, ...slice, '[ -z "$glock" ] || rm -f -- "$glock"', ') &');
    }
    lines.push('wait');
  }
  return lines.join('\n') + '\n';
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

export interface EvidenceItem {
  key: string;
  jobDir: string;
  /** Number of tasks whose exit files to read. */
  taskCount: number;
}

/**
 * The job's own testimony, for many jobs in one exec: the runner's `.hpcb/exit`
 * ("<code> <failing task or -1>"), `.hpcb/started`, `.hpcb/limit` (a limit enforced by the
 * direct adapter's wrapper), each `.hpcb/task.<i>.exit`, whether the
 * script was terminated by a signal, and whether any bridge or task stderr mentions a memory
 * kill (Slurm's polling-based enforcement writes "Exceeded job memory limit" there and reports
 * only FAILED 0:9).
 * Output: `@@HPCB-EV <key> <field> <value>` lines; absent files are simply not reported.
 */
export function renderEvidenceProgram(items: readonly EvidenceItem[]): string {
  const lines = [
    'ev_one() {',
    '  key=$1; dir=$2; n=$3',
    '  if ! cd "$dir" 2>/dev/null; then printf "@@HPCB-EV %s nodir 1\\n" "$key"; return; fi',
    '  [ -f .hpcb/exit ] && printf "@@HPCB-EV %s exit %s\\n" "$key" "$(head -c 64 .hpcb/exit | tr -d "\\n")"',
    '  [ -f .hpcb/started ] && printf "@@HPCB-EV %s started %s\\n" "$key" "$(head -c 32 .hpcb/started | tr -d "\\n")"',
    '  [ -f .hpcb/terminated ] && printf "@@HPCB-EV %s terminated %s\\n" "$key" "$(head -c 64 .hpcb/terminated | tr -d "\\n")"',
    '  [ -f .hpcb/native_id ] && printf "@@HPCB-EV %s native_id %s\\n" "$key" "$(head -c 128 .hpcb/native_id | tr -d "\\n ")"',
    '  [ -f .hpcb/limit ] && printf "@@HPCB-EV %s limit %s\\n" "$key" "$(head -c 32 .hpcb/limit | tr -d "\\n")"',
    '  i=0',
    '  while [ "$i" -lt "$n" ]; do',
    '    [ -f ".hpcb/task.$i.exit" ] && printf "@@HPCB-EV %s task.%s %s\\n" "$key" "$i" "$(head -c 32 ".hpcb/task.$i.exit" | tr -d "\\n")"',
    '    i=$((i+1))',
    '  done',
    '  if grep -qsiE "exceeded (job|step) memory limit|oom[-_ ]kill|out of memory|memory cgroup out of memory" .hpcb/*.err .hpcb/*.stderr 2>/dev/null; then',
    '    printf "@@HPCB-EV %s memkill 1\\n" "$key"',
    '  fi',
    '  printf "@@HPCB-EV %s end 1\\n" "$key"',
    '}',
  ];
  for (const it of items) lines.push(`ev_one ${shellQuote(it.key)} ${shellQuote(it.jobDir)} ${it.taskCount}`);
  return lines.join('\n') + '\n';
}

export interface Evidence {
  /** The job directory is gone (purged scratch, wrong path). */
  noDir: boolean;
  /** Exit code from .hpcb/exit, null if the file is absent. */
  exitCode: number | null;
  failedTask: number | null;
  started: boolean;
  /** The runner's clock when the script started (`.hpcb/started`, epoch seconds), null if absent or unreadable. */
  startedEpoch?: number | null;
  terminatedBy: string | null;
  /** The scheduler id the job wrote when it started (`.hpcb/native_id`), if any. */
  nativeId: string | null;
  /** A limit enforced outside the scheduler (the direct adapter's `timeout`): "walltime" or "memory". */
  limit: string | null;
  taskExitCodes: (number | null)[];
  memoryKill: boolean;
  /** The program reached the end for this job (output not cut short). */
  complete: boolean;
}

export function parseEvidenceOutput(stdout: string, items: readonly EvidenceItem[]): Map<string, Evidence> {
  const out = new Map<string, Evidence>();
  for (const it of items) {
    out.set(it.key, {
      noDir: false,
      exitCode: null,
      failedTask: null,
      started: false,
      startedEpoch: null,
      terminatedBy: null,
      limit: null,
      nativeId: null,
      taskExitCodes: Array.from({ length: it.taskCount }, () => null),
      memoryKill: false,
      complete: false,
    });
  }
  for (const line of stdout.split('\n')) {
    const m = /^@@HPCB-EV (\S+) (\S+) ?(.*)$/.exec(line);
    if (!m) continue;
    const ev = out.get(m[1]!);
    if (!ev) continue;
    const field = m[2]!;
    const value = (m[3] ?? '').trim();
    if (field === 'nodir') {
      ev.noDir = true;
      ev.complete = true;
    } else if (field === 'exit') {
      const [code, task] = value.split(/\s+/);
      if (code !== undefined && /^-?\d+$/.test(code)) ev.exitCode = Number(code);
      if (task !== undefined && /^-?\d+$/.test(task) && Number(task) >= 0) ev.failedTask = Number(task);
    } else if (field === 'started') {
      ev.started = true;
      if (/^\d+$/.test(value)) ev.startedEpoch = Number(value);
    }
    else if (field === 'terminated') ev.terminatedBy = value || 'signal';
    else if (field === 'limit') ev.limit = value || null;
    else if (field === 'native_id') ev.nativeId = /^[A-Za-z0-9_.\[\]-]+$/.test(value) ? value : null;
    else if (field === 'memkill') ev.memoryKill = true;
    else if (field === 'end') ev.complete = true;
    else if (field.startsWith('task.')) {
      const i = Number(field.slice(5));
      if (Number.isInteger(i) && i >= 0 && i < ev.taskExitCodes.length && /^-?\d+$/.test(value)) ev.taskExitCodes[i] = Number(value);
    }
  }
  return out;
}
