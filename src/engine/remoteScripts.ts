/**
 * The few remote shell programs the engine runs, scheduler-neutral. Each is rendered as one
 * bash program and sent as a single argv element (`bash -c <program>`), with every path and
 * argument inside it quoted by shellQuote. They batch work for many jobs into one exec, so the
 * login node sees one SSH channel per step rather than one per job.
 */
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

/**
 * Exactly-once submission. For each job the program takes an exclusive flock on
 * .hpcb/submit.lock, and only if no record exists for this (attempt, try) runs the submit
 * command with its stdout and stderr written to files in the job dir, then its exit status
 * (tmp+mv): the `.rc` file is the commit mark, written last, so a record with an `.rc` is whole.
 * The record is written by the remote shell in the same command that submits, so a daemon
 * killed at any instant finds it on restart; running the program again returns the recorded
 * result instead of submitting twice. HUP and PIPE are ignored so that a dropped SSH channel
 * cannot kill the shell between the submit and the record. The lock serialises a restarted
 * daemon against a submit that is still running from before the crash.
 *
 * Output: one line per job: `@@HPCB-SUBMIT <key> <rc|NODIR|LOCKED> <base64 stdout> <base64 stderr>`.
 */
export function renderSubmitProgram(items: readonly SubmitItem[]): string {
  // Every fork costs milliseconds on a busy login node, and this runs once per job: builtins
  // where possible ($(<file), the lock on an fd of this shell), one base64 per non-empty stream.
  const lines = [
    'trap "" HUP PIPE',
    'b64() { if [ -s "$1" ]; then base64 -w0 < "$1"; else printf -- "-"; fi; }',
    'submit_one() {',
    '  key=$1; dir=$2; rec=$3; shift 3',
    '  if ! cd "$dir" 2>/dev/null; then printf "@@HPCB-SUBMIT %s NODIR - -\\n" "$key"; return; fi',
    '  [ -d .hpcb ] || mkdir -p .hpcb',
    '  if [ ! -f ".hpcb/$rec.rc" ]; then',
    '    exec 9>> .hpcb/submit.lock',
    '    if ! flock -w 300 9; then exec 9>&-; printf "@@HPCB-SUBMIT %s LOCKED - -\\n" "$key"; return; fi',
    '    # Checked again under the lock: a submit from before a crash may have just finished.',
    '    if [ ! -f ".hpcb/$rec.rc" ]; then',
    '      # fd 9 closed for the command: a job it starts (direct mode) must not hold the lock.',
    '      "$@" 9>&- > ".hpcb/$rec.out" 2> ".hpcb/$rec.err" < /dev/null',
    '      printf "%s\\n" "$?" > ".hpcb/$rec.rc.tmp" && mv -f ".hpcb/$rec.rc.tmp" ".hpcb/$rec.rc"',
    '    fi',
    '    exec 9>&-',
    '  fi',
    '  rc=$(<".hpcb/$rec.rc")',
    '  printf "@@HPCB-SUBMIT %s %s %s %s\\n" "$key" "$rc" "$(b64 ".hpcb/$rec.out")" "$(b64 ".hpcb/$rec.err")"',
    '}',
  ];
  for (const it of items) {
    const rec = `submit.${it.attempt}.${it.tryNo}`;
    lines.push(`submit_one ${shellQuote(it.key)} ${shellQuote(it.jobDir)} ${shellQuote(rec)} ${shellJoin(it.argv)}`);
  }
  return lines.join('\n') + '\n';
}

export type SubmitRecord =
  | { key: string; kind: 'result'; exitCode: number; stdout: string; stderr: string }
  | { key: string; kind: 'nodir' }
  | { key: string; kind: 'locked' };

export function parseSubmitProgramOutput(stdout: string): Map<string, SubmitRecord> {
  const out = new Map<string, SubmitRecord>();
  const unb64 = (s: string | undefined) => (!s || s === '-' ? '' : Buffer.from(s, 'base64').toString('utf8'));
  for (const line of stdout.split('\n')) {
    const m = /^@@HPCB-SUBMIT (\S+) (\S+) (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    const [, key, status, o, e] = m as unknown as [string, string, string, string, string];
    if (status === 'NODIR') out.set(key, { key, kind: 'nodir' });
    else if (status === 'LOCKED') out.set(key, { key, kind: 'locked' });
    else if (/^\d+$/.test(status)) out.set(key, { key, kind: 'result', exitCode: Number(status), stdout: unb64(o), stderr: unb64(e) });
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
