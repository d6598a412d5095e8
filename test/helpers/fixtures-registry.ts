/**
 * Global setup of the `unit` and `unit-coverage` projects: one directory per vitest run where
 * fixture() (test/helpers/fixtures.ts) notes every capture a test reads, and which test file read
 * it. The coverage tests run after the unit project (groupOrder) and check that every capture
 * was read by a test of its adapter in this same run, not merely named in some source file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The directory where fixture() notes, for the whole vitest run, which test file read which
 * capture (unset when a file runs on its own).
 */
export const FIXTURES_USED_ENV = 'HPCB_FIXTURES_USED_DIR';

export default function setup(): () => void {
  if (process.env[FIXTURES_USED_ENV]) return () => {};
  const dir = mkdtempSync(join(tmpdir(), 'hpcb-fixtures-used-'));
  // Set in the main process before any worker starts, so every test worker inherits it.
  process.env[FIXTURES_USED_ENV] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
