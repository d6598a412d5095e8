/**
 * Turning captured fixture text into what the adapter sees: an ExecResult. The captures
 * interleave stdout and stderr, so a test says where the text goes.
 */
import type { ExecResult } from '../../../src/transport/transport.js';
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

/** Lines of a text, without empty ones. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/**
 * The block of lines that starts at the first line matching `start` and runs until (not
 * including) the first later line matching `end`, or the end of the text.
 */
export function block(text: string, start: RegExp, end?: RegExp): string {
  const all = text.split('\n');
  const from = all.findIndex((l) => start.test(l));
  if (from < 0) throw new Error(`no line matches ${start}`);
  let to = all.length;
  if (end) {
    const rel = all.slice(from + 1).findIndex((l) => end.test(l));
    if (rel >= 0) to = from + 1 + rel;
  }
  return all.slice(from, to).join('\n');
}
