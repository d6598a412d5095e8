import { appendFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { FIXTURES_USED_ENV } from './fixtures-registry.js';

export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/** Files read through fixture() in this process. */
export const usedFixtures = new Set<string>();

const REPO = join(FIXTURES_DIR, '..', '..');

function noteUse(rel: string): void {
  usedFixtures.add(rel);
  const dir = process.env[FIXTURES_USED_ENV];
  if (!dir) return;
  const testPath = expect.getState().testPath;
  const by = testPath ? relative(REPO, testPath) : '(outside a test file)';
  // One short line per read, appended: safe from several workers at once.
  appendFileSync(join(dir, 'used.tsv'), `${rel}\t${by}\n`);
}

/**
 * Every capture read through fixture() in this vitest run, with the test files that read it.
 * Throws when the run has no registry (the coverage tests need the unit project's run).
 */
export function fixturesReadInThisRun(): Map<string, Set<string>> {
  const dir = process.env[FIXTURES_USED_ENV];
  if (!dir) throw new Error(`${FIXTURES_USED_ENV} is not set: run the coverage tests with the unit project (--project unit --project unit-coverage)`);
  const file = join(dir, 'used.tsv');
  const out = new Map<string, Set<string>>();
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [rel, by] = line.split('\t');
    if (!rel || !by) continue;
    if (!out.has(rel)) out.set(rel, new Set());
    out.get(rel)!.add(by);
  }
  return out;
}

/**
 * The captured output of a fixture file, without its first line (which names the command or
 * source). Some captures end with a line "[exit status: N]"; `fixtureWithExit` splits that off.
 */
export function fixture(rel: string): string {
  noteUse(rel);
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
