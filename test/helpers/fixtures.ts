import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/** Files read through fixture() in this process, so a test can prove every fixture is used. */
export const usedFixtures = new Set<string>();

/**
 * The captured output of a fixture file, without its first line (which names the command or
 * source). Some captures end with a line "[exit status: N]"; `fixtureWithExit` splits that off.
 */
export function fixture(rel: string): string {
  usedFixtures.add(rel);
  const text = readFileSync(join(FIXTURES_DIR, rel), 'utf8');
  const nl = text.indexOf('\n');
  return nl < 0 ? '' : text.slice(nl + 1);
}

/** The first line: the command or source the capture came from. */
export function fixtureSource(rel: string): string {
  const text = readFileSync(join(FIXTURES_DIR, rel), 'utf8');
  return text.split('\n', 1)[0] ?? '';
}

export function fixtureWithExit(rel: string): { body: string; exitCode: number | null } {
  const body = fixture(rel);
  const m = /\n?\[exit status: (\d+)\]\s*$/.exec(body);
  if (!m) return { body, exitCode: null };
  return { body: body.slice(0, m.index).replace(/\n?$/, '\n'), exitCode: Number(m[1]) };
}

export function listFixtures(sub: string): string[] {
  return readdirSync(join(FIXTURES_DIR, sub)).filter((f) => !f.startsWith('.')).map((f) => `${sub}/${f}`);
}
