/**
 * Captured text → what the PBS adapter sees. Captures in slurm-22.05/ run several commands and
 * interleave stdout and stderr, so tests cut out the part one command printed and say where it goes.
 */
import type { ExecResult } from '../../../src/transport/transport.js';
import { BridgeError } from '../../../src/domain/errors.js';
import { fixtureWithExit } from '../../helpers/fixtures.js';

export function result(stdout: string, exitCode: number | null = 0, stderr = ''): ExecResult {
  return { exitCode, signal: exitCode === null ? 'SIGKILL' : null, stdout, stderr, durationMs: 5 };
}

/** A fixture as an ExecResult: its text on `stream`, its `[exit status: N]` (default 0). */
export function fromFixture(rel: string, stream: 'stdout' | 'stderr' = 'stdout'): ExecResult {
  const { body, exitCode } = fixtureWithExit(rel);
  const code = exitCode ?? 0;
  return stream === 'stdout' ? result(body, code) : result('', code, body);
}

/** The fixture body without its `[exit status: N]` trailer. */
export function body(rel: string): string {
  return fixtureWithExit(rel).body;
}

/**
 * The lines from the first one matching `start` up to (not including) the first later line
 * matching `end`, or the end of the text.
 */
export function section(text: string, start: RegExp, end?: RegExp): string {
  const all = text.split('\n');
  const from = all.findIndex((l) => start.test(l));
  if (from < 0) throw new Error(`no line matches ${start}`);
  let to = all.length;
  if (end) {
    const rel = all.slice(from + 1).findIndex((l) => end.test(l));
    if (rel >= 0) to = from + 1 + rel;
  }
  return all.slice(from, to).join('\n') + '\n';
}

/** The BridgeError `fn` throws (fails the test if it throws nothing or something else). */
export function thrown(fn: () => unknown): BridgeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BridgeError) return e;
    throw e;
  }
  throw new Error('expected a BridgeError');
}
