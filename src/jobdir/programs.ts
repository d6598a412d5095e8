/**
 * The remote programs: real shell files beside this module (programs/*.sh, checked by
 * shellcheck), read once when the daemon starts. Each runs as `bash -c <file text> <name>
 * <args...>`: the text is the same for every job, and per-job data travels only as positional
 * arguments, so nothing a user wrote is ever pasted into a program.
 */
import { readFileSync } from 'node:fs';

export const PROGRAM_NAMES = ['submit', 'evidence', 'elements', 'clear-attempt', 'place', 'list-outputs', 'cache-probe', 'cache-install', 'kv-install', 'kv-scan', 'kv-answer', 'snapshot', 'exec', 'exec-step', 'follow-events', 'unpack', 'fetch'] as const;
export type ProgramName = (typeof PROGRAM_NAMES)[number];

const TEXT = new Map<ProgramName, string>(PROGRAM_NAMES.map((n) => [n, readFileSync(new URL(`./programs/${n}.sh`, import.meta.url), 'utf8')]));

/** The text of a remote program (for tests and shellcheck). */
export function programText(name: ProgramName): string {
  return TEXT.get(name)!;
}

/** The argv that runs a remote program with its arguments. */
export function programArgv(name: ProgramName, args: readonly string[]): string[] {
  return ['bash', '-c', programText(name), `hpcb-${name}`, ...args];
}
