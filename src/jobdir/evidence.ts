/**
 * Reading the job's own testimony from its directory: the evidence program
 * (programs/evidence.sh), the element program for array carriers (programs/elements.sh), the
 * clean-up before a resubmission (programs/clear-attempt.sh), and their parsers.
 */
import { ATTEMPT_FILES, MEMORY_KILL_PATTERNS } from './layout.js';
import { programArgv } from './programs.js';

export interface EvidenceItem {
  key: string;
  jobDir: string;
  /** Number of tasks whose exit files to read. */
  taskCount: number;
}

/**
 * The job's own testimony, for many jobs in one exec: the runner's `.hpcb/exit`
 * ("<code> <failing task or -1>"), `.hpcb/started`, `.hpcb/limit` (a limit enforced by the
 * direct adapter's wrapper), `.hpcb/failure` (why a task could not start), each `.hpcb/task.<i>.exit`, whether the
 * script was terminated by a signal, and whether any bridge or task stderr mentions a memory
 * kill (MEMORY_KILL_PATTERNS in layout.ts).
 * Output: `@@HPCB-EV <key> <field> <value>` lines; absent files are simply not reported.
 */
export function evidenceProgram(items: readonly EvidenceItem[]): string[] {
  const args = [MEMORY_KILL_PATTERNS.join('|')];
  for (const it of items) args.push(it.key, it.jobDir, String(it.taskCount));
  return programArgv('evidence', args);
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
  /** Why a task could not start (`.hpcb/failure`: a word and the task's index), if the runner said. */
  failure?: { what: string; task: number } | null;
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
    else if (field === 'failure') {
      const f = /^([a-z-]{1,32}) (\d{1,6})$/.exec(value);
      ev.failure = f ? { what: f[1]!, task: Number(f[2]) } : null;
    }
    else if (field === 'native_id') ev.nativeId = /^[A-Za-z0-9_.[\]-]+$/.test(value) ? value : null;
    else if (field === 'memkill') ev.memoryKill = true;
    else if (field === 'end') ev.complete = true;
    else if (field.startsWith('task.')) {
      const i = Number(field.slice(5));
      if (Number.isInteger(i) && i >= 0 && i < ev.taskExitCodes.length && /^-?\d+$/.test(value)) ev.taskExitCodes[i] = Number(value);
    }
  }
  return out;
}

/**
 * For each array carrier (key = its bridge job id), the id one of its elements wrote to
 * `.hpcb/<k>/native_id`: one element that started is proof the array was accepted.
 */
export function elementsProgram(carriers: readonly { id: number; jobDir: string }[]): string[] {
  return programArgv('elements', carriers.map((c) => `${c.id}=${c.jobDir}`));
}

/**
 * The array id from what elements wrote (`@@HPCB-EL <carrier id> <element id>` lines, then an
 * end marker), through the adapter's `arrayOf` (an element id to its array's id). '' for a carrier none of whose elements started (or wrote
 * something unreadable); undefined for every carrier when the end marker is missing (the output
 * was cut short: nothing can be concluded).
 */
export function parseElementTestimony(stdout: string, carrierIds: readonly number[], arrayOf: (elementId: string) => string | undefined = (id) => /^([0-9]+)_[0-9]+$/.exec(id)?.[1]): Map<number, string | undefined> {
  const out = new Map<number, string | undefined>(carrierIds.map((id) => [id, undefined]));
  if (!/^@@HPCB-EL-END$/m.test(stdout)) return out;
  for (const id of carrierIds) out.set(id, '');
  for (const line of stdout.split('\n')) {
    const m = /^@@HPCB-EL (\d+) ?(\S*)$/.exec(line);
    if (!m || !out.has(Number(m[1]))) continue;
    out.set(Number(m[1]), (m[2] ? arrayOf(m[2]) : undefined) ?? '');
  }
  return out;
}

/** Remove the previous attempt's testimony (ATTEMPT_FILES in layout.ts) from a job directory. */
export function clearAttemptProgram(jobDir: string): string[] {
  return programArgv('clear-attempt', [jobDir, ...ATTEMPT_FILES]);
}
