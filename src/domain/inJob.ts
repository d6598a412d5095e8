/**
 * What a user may ask of a running job: a file of its directory (a snapshot) and a short command
 * inside its allocation (exec). Only the checks that need no cluster live here; the cluster side
 * checks again where the files are (src/jobdir/programs/snapshot.sh), because only it can see
 * symlinks.
 */
import { BridgeError } from './errors.js';

/** Longest path a snapshot may name (PATH_MAX on Linux). */
export const MAX_SNAPSHOT_PATH = 4096;
/** An exec's argv: at most this many words and bytes in all (it travels on one command line). */
export const MAX_EXEC_ARGS = 256;
export const MAX_EXEC_ARGV_BYTES = 64 * 1024;
/** Seconds an exec may run when the request does not say. */
export const DEFAULT_EXEC_SECONDS = 60;

const invalid = (field: string, message: string) => new BridgeError('INVALID_DEFINITION', `${field}: ${message}`, { context: { field } });

/**
 * A path relative to the job directory, normalised (`./a//b` is `a/b`). Refused: absolute paths,
 * `..` anywhere (even where it would stay inside: a symlinked directory makes `a/..` leave it),
 * the bridge's own `.hpcb/` (task logs have their own endpoints) and control characters.
 */
export function jobRelativePath(path: string, field = 'path'): string {
  if (path === '') throw invalid(field, 'is empty: name a file inside the job directory, e.g. "result.txt"');
  if (path.length > MAX_SNAPSHOT_PATH) throw invalid(field, `is longer than ${MAX_SNAPSHOT_PATH} characters`);
  // eslint-disable-next-line no-control-regex -- control characters are what is refused here
  if (/[\x00-\x1f\x7f]/.test(path)) throw invalid(field, 'contains a control character');
  if (path.startsWith('/')) throw invalid(field, `"${path}" is absolute: give a path relative to the job directory`);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw invalid(field, `"${path}" contains "..": only files inside the job directory can be read`);
  if (parts.length === 0) throw invalid(field, `"${path}" is the job directory itself: name a file inside it`);
  if (parts[0] === '.hpcb') throw invalid(field, `"${path}" is inside .hpcb, the bridge's own files: read task logs with stdout/stderr`);
  return parts.join('/');
}

/** A checked exec request. */
export interface ExecRequest {
  argv: string[];
  timeoutSeconds: number;
}

/**
 * The argv of an exec (run as is, no shell: `["bash", "-c", "..."]` for one) and its time limit,
 * at most `maxSeconds`.
 */
export function checkExecRequest(req: { argv: readonly string[]; timeoutSeconds?: number | undefined }, maxSeconds: number): ExecRequest {
  const { argv } = req;
  if (argv.length === 0) throw invalid('argv', 'is empty: give the program and its arguments, e.g. ["tail", "-n", "5", "log.txt"]');
  if (argv.length > MAX_EXEC_ARGS) throw invalid('argv', `has ${argv.length} words; at most ${MAX_EXEC_ARGS}`);
  if (argv[0] === '') throw invalid('argv[0]', 'is empty: it names the program to run');
  const bad = argv.findIndex((a) => a.includes('\0'));
  if (bad >= 0) throw invalid(`argv[${bad}]`, 'contains a NUL byte');
  const bytes = argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  if (bytes > MAX_EXEC_ARGV_BYTES) throw invalid('argv', `is ${bytes} bytes long; at most ${MAX_EXEC_ARGV_BYTES}`);
  const t = req.timeoutSeconds ?? Math.min(DEFAULT_EXEC_SECONDS, maxSeconds);
  if (!Number.isInteger(t) || t < 1 || t > maxSeconds) throw invalid('timeoutSeconds', `must be a whole number of seconds from 1 to ${maxSeconds} (the daemon's limits.execSeconds)`);
  return { argv: [...argv], timeoutSeconds: t };
}
