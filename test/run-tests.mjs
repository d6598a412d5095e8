#!/usr/bin/env node
// `npm test`: type-check, run the whole vitest suite (unit + real test cluster), then print the
// plain summary line `N passed, N failed[, N skipped]` from vitest's JSON report, keeping
// vitest's exit status; the whole-suite secret scan of the logs counts as one more test. Extra
// arguments go to vitest (e.g. `npm test -- test/unit`).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const reports = ['.vitest-results.json', '.vitest-results.cluster.json'];
for (const r of reports) rmSync(r, { force: true });

// Every logger of the suite (in-process daemons, child daemons, the CLI) also appends its lines,
// at info and above whatever its own level, to one file (src/logging.ts, HPCB_LOG_TEE); after
// the suite one scan looks for tokens, bearer credentials and the test key's passphrase in it.
const suiteLog = resolve('.vitest-logs/suite.log');
rmSync(suiteLog, { force: true });
mkdirSync(dirname(suiteLog), { recursive: true });

const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.test.json', '--noEmit'], { stdio: 'inherit' });

// Vitest runs every project one file at a time as soon as one project sets fileParallelism
// false (the cluster projects must: their jobs share one 8-CPU test node). So the whole suite
// is two vitest processes side by side: the unit project with its own workers, and the two
// cluster projects, one file at a time. With arguments (`npm test -- test/unit`), one process.
const env = { ...process.env, HPCB_LOG_TEE: suiteLog };
const args = process.argv.slice(2);
const runs = args.length
  ? [{ report: reports[0], args }]
  : [
      { report: reports[0], args: ['--project', 'unit'] },
      { report: reports[1], args: ['--project', 'cluster', '--project', 'cluster-faults'] },
    ];
// The cluster first: a few unit tests use the real `sbatch` on this machine (which up.sh
// installs on a fresh one). A cluster that cannot start is reported by the cluster projects'
// global setup, which tries again and fails the run.
if (!args.length) spawnSync('bash', ['test/cluster/up.sh'], { stdio: 'inherit' });
const statuses = await Promise.all(
  runs.map(
    (r) =>
      new Promise((done) => {
        const child = spawn('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${r.report}`, ...r.args], { stdio: 'inherit', env });
        child.on('close', (code) => done(code ?? 1));
      }),
  ),
);
const vitest = { status: statuses.find((s) => s !== 0) ?? 0 };
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
for (const { report } of runs) {
  if (!existsSync(report)) {
    failed += 1; // a vitest that wrote no report did not run its tests
    continue;
  }
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that failed to load (e.g. global setup or import error) has no tests but is a failure.
  failed += (r.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
}
if (scanOk) passed += 1;
else failed += 1;
if (tsc.status !== 0) failed += 1;
if (vitest.status !== 0 && failed === 0) failed = 1;
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(tsc.status !== 0 ? (tsc.status ?? 1) : vitest.status !== 0 ? (vitest.status ?? 1) : scanOk ? 0 : 1);
