/**
 * Readers for single files the runner writes in `.hpcb/` (layout.ts). They return undefined
 * for a missing or partial value rather than guessing.
 */

export interface JobExitRecord {
  exitCode: number;
  /** Index in spec.tasks of the task that stopped the job, or -1. */
  failedTask: number;
}

export function parseJobExitFile(text: string): JobExitRecord | undefined {
  const m = /^(\d+) (-1|\d+)\n?$/.exec(text);
  if (!m) return undefined;
  return { exitCode: Number(m[1]), failedTask: Number(m[2]) };
}

export function parseTaskExitFile(text: string): number | undefined {
  const m = /^(\d+)\n?$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Epoch seconds. */
export function parseStartedFile(text: string): number | undefined {
  const m = /^(\d+)\n?$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface TerminatedRecord {
  /** Signal name without SIG, e.g. "TERM". */
  signal: string;
  /** Epoch seconds. */
  at: number;
  /** Index of the task that was running, or -1. */
  runningTask: number;
}

export function parseTerminatedFile(text: string): TerminatedRecord | undefined {
  const m = /^([A-Z0-9]+) (\d+) (-1|\d+)\n?$/.exec(text);
  if (!m) return undefined;
  return { signal: m[1]!, at: Number(m[2]), runningTask: Number(m[3]) };
}
