#!/usr/bin/env node
// `npm test`: type-check, run the whole vitest suite (unit + real test cluster), then print the
// plain summary line `N passed, N failed[, N skipped]` from vitest's JSON report, keeping
// vitest's exit status; the whole-suite secret scan of the logs counts as one more test. Extra
// arguments go to vitest (e.g. `npm test -- test/unit`).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const report = '.vitest-results.json';
rmSync(report, { force: true });

// Every logger of the suite (in-process daemons, child daemons, the CLI) also appends its lines,
// at info and above whatever its own level, to one file (src/logging.ts, HPCB_LOG_TEE); after
// the suite one scan looks for tokens, bearer credentials and the test key's passphrase in it.
const suiteLog = resolve('.vitest-logs/suite.log');
rmSync(suiteLog, { force: true });
mkdirSync(dirname(suiteLog), { recursive: true });

const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.test.json', '--noEmit'], { stdio: 'inherit' });
const vitest = spawnSync(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, HPCB_LOG_TEE: suiteLog } },
);
const scan = spawnSync('npx', ['tsx', 'test/security/secretScan.ts', suiteLog], { encoding: 'utf8' });
process.stderr.write(scan.stderr);
process.stdout.write(scan.stdout);
const scanned = Number(/(\d+) log lines/.exec(scan.stdout)?.[1] ?? 0);
// An empty log would make the scan prove nothing: that is a failure too.
const scanOk = scan.status === 0 && scanned > 0;
if (scanned === 0) console.error('secret scan: the suite wrote no log lines to scan');

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
if (scanOk) passed += 1;
else failed += 1;
if (tsc.status !== 0) failed += 1;
if (vitest.status !== 0 && failed === 0) failed = 1;
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(tsc.status !== 0 ? (tsc.status ?? 1) : vitest.status !== 0 ? (vitest.status ?? 1) : scanOk ? 0 : 1);
