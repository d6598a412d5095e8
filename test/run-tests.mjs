#!/usr/bin/env node
// `npm test`: type-check, run the whole vitest suite (unit + real test cluster), then print the
// plain summary line `N passed, N failed[, N skipped]` from vitest's JSON report, keeping
// vitest's exit status. Extra arguments go to vitest (e.g. `npm test -- test/unit`).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const report = '.vitest-results.json';
rmSync(report, { force: true });

const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.test.json', '--noEmit'], { stdio: 'inherit' });
const vitest = spawnSync(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed = r.numPassedTests ?? 0;
  failed = r.numFailedTests ?? 0;
  skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that failed to load (e.g. global setup or import error) has no tests but is a failure.
  const brokenFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
  failed += brokenFiles;
}
if (tsc.status !== 0) failed += 1;
if (vitest.status !== 0 && failed === 0) failed = 1;
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(tsc.status !== 0 ? (tsc.status ?? 1) : (vitest.status ?? 1));
