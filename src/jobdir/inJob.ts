/**
 * The programs that reach into a running job's directory (programs/snapshot.sh, exec.sh,
 * exec-step.sh): their arguments and the parsers of what they print. They run as the job's own
 * account, so they can read and run exactly what the job itself could, and nothing of another
 * account's jobs.
 */
import { posix } from 'node:path';
import { HPCB_DIR } from './layout.js';
import { programArgv } from './programs.js';

/** Read `relPath` (checked by src/domain/inJob.ts) of `jobDir`, at most `maxBytes`. */
export function snapshotProgram(jobDir: string, relPath: string, maxBytes: number): string[] {
  return programArgv('snapshot', [jobDir, relPath, String(maxBytes)]);
}

export type SnapshotAnswer =
  | { kind: 'file'; data: Buffer }
  | { kind: 'toolarge'; size: number }
  | { kind: 'nodir' | 'missing' | 'outside' | 'directory' | 'special' | 'denied' }
  | { kind: 'none' };

const SNAP = '@@HPCB-SNAP ';

export function parseSnapshot(stdout: string): SnapshotAnswer {
  // The answer is one line, possibly megabytes of base64: found by its marker, not by a regex over it.
  const at = stdout.startsWith(SNAP) ? 0 : stdout.indexOf(`\n${SNAP}`) + 1;
  if (at === 0 && !stdout.startsWith(SNAP)) return { kind: 'none' };
  const end = stdout.indexOf('\n', at);
  const [word, rest = ''] = splitOnce(stdout.slice(at + SNAP.length, end < 0 ? undefined : end), ' ');
  switch (word) {
    case 'FILE':
      return /^[A-Za-z0-9+/]*={0,2}$/.test(rest) ? { kind: 'file', data: Buffer.from(rest, 'base64') } : { kind: 'none' };
    case 'TOOLARGE':
      return /^\d+$/.test(rest) ? { kind: 'toolarge', size: Number(rest) } : { kind: 'none' };
    case 'NODIR':
    case 'MISSING':
    case 'OUTSIDE':
    case 'DIRECTORY':
    case 'SPECIAL':
    case 'DENIED':
      return { kind: word.toLowerCase() as 'missing' };
    default:
      return { kind: 'none' };
  }
}

/** Where one exec keeps its pipes and records while it runs, relative to the job directory. */
export function execWorkDir(work: string): string {
  return posix.join(HPCB_DIR, 'exec', work);
}

/**
 * The inner program (exec-step.sh): the user's argv under `timeout`, run where the job runs; it
 * records its exit status in the work directory `work` of `jobDir`.
 */
export function execStepProgram(jobDir: string, work: string, timeoutSeconds: number, argv: readonly string[]): string[] {
  return programArgv('exec-step', [String(timeoutSeconds), posix.join(jobDir, execWorkDir(work), 'rc'), ...argv]);
}

/** The outer program (exec.sh), on the login node: runs `launcher` and reports what came back. */
export function execProgram(jobDir: string, work: string, timeoutSeconds: number, maxBytes: number, launcher: readonly string[]): string[] {
  return programArgv('exec', [jobDir, work, String(timeoutSeconds), String(maxBytes), ...launcher]);
}

export interface ExecAnswer {
  noDir: boolean;
  /** exec.sh printed its END line. */
  complete: boolean;
  launcherExit: number | null;
  /** The command's own record (absent: it never ran, or was killed before it could write one). */
  step?: { exitCode: number; timedOut: boolean };
  /** exec.sh had to end a launcher that outlived the limit. */
  cut: boolean;
  stdout: { data: Buffer; bytes: number };
  stderr: { data: Buffer; bytes: number };
}

export function parseExec(stdout: string): ExecAnswer {
  const a: ExecAnswer = { noDir: false, complete: false, launcherExit: null, cut: false, stdout: { data: Buffer.alloc(0), bytes: 0 }, stderr: { data: Buffer.alloc(0), bytes: 0 } };
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('@@HPCB-EXEC ')) continue;
    const f = line.slice('@@HPCB-EXEC '.length).split(' ');
    switch (f[0]) {
      case 'NODIR':
        a.noDir = true;
        break;
      case 'LAUNCHER':
        a.launcherExit = /^\d+$/.test(f[1] ?? '') ? Number(f[1]) : null;
        break;
      case 'STEP':
        if (/^\d+$/.test(f[1] ?? '') && (f[2] === '0' || f[2] === '1')) a.step = { exitCode: Number(f[1]), timedOut: f[2] === '1' };
        break;
      case 'CUT':
        a.cut = true;
        break;
      case 'OUT':
      case 'ERR':
        a[f[0] === 'OUT' ? 'stdout' : 'stderr'] = { bytes: Number(f[1]) || 0, data: Buffer.from(f[2] ?? '', 'base64') };
        break;
      case 'END':
        a.complete = true;
        break;
    }
  }
  return a;
}

function splitOnce(s: string, sep: string): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}
