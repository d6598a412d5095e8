#!/usr/bin/env node
// `npm test`: type-check, run the whole vitest suite (unit + real test cluster), scan the suite's
// logs for secrets, then print every counted failure and the plain summary line
// `N passed, N failed[, N skipped]`. The exit status follows that line: non-zero exactly when it
// counts a failure (the counting, and what counts, is test/summary.mjs). Extra arguments go to
// vitest (e.g. `npm test -- test/unit`).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from './summary.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

// Reports go to a directory of this run's own: two runners side by side (the runner's own test
// runs one inside the suite) must not read or delete each other's.
const work = mkdtempSync(join(tmpdir(), 'hpcb-run-tests-'));

// Every logger of the suite (in-process daemons, child daemons, the CLI) also appends its lines,
// at info and above whatever its own level, to one file (src/logging.ts, HPCB_LOG_TEE); after
// the suite one scan looks for tokens, bearer credentials and the test key's passphrase in it.
// HPCB_SUITE_LOG puts that file elsewhere (the runner's own test runs a runner inside the suite).
const suiteLog = resolve(process.env.HPCB_SUITE_LOG ?? join(root, '.vitest-logs/suite.log'));
rmSync(suiteLog, { force: true });
mkdirSync(dirname(suiteLog), { recursive: true });

const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.test.json', '--noEmit'], { stdio: 'inherit', cwd: root });

// Vitest runs every project one file at a time as soon as one project sets fileParallelism
// false (the cluster projects must: their jobs share one 8-CPU test node). So the whole suite
// is two vitest processes side by side: the unit project with its own workers, and the two
// cluster projects, one file at a time. With arguments (`npm test -- test/unit`), one process.
const args = process.argv.slice(2);
const runs = (args.length ? [args] : [['--project', 'unit', '--project', 'unit-coverage'], ['--project', 'cluster', '--project', 'cluster-faults']]).map((a, i) => ({
  label: `vitest ${a.join(' ')}`,
  args: a,
  report: join(work, `report.${i}.json`),
  errors: join(work, `errors.${i}.json`),
}));
// The cluster first: a few unit tests use the real `sbatch` on this machine (which up.sh
// installs on a fresh one). A cluster that cannot start is reported by the cluster projects'
// global setup, which tries again and fails the run.
if (!args.length) spawnSync('bash', ['test/cluster/up.sh'], { stdio: 'inherit', cwd: root });
const statuses = await Promise.all(
  runs.map(
    (r) =>
      new Promise((done) => {
        const reporters = ['--reporter=default', '--reporter=json', `--outputFile.json=${r.report}`, `--reporter=${join(here, 'run-errors-reporter.mjs')}`];
        const env = { ...process.env, HPCB_LOG_TEE: suiteLog, HPCB_RUN_ERRORS_FILE: r.errors };
        const child = spawn('npx', ['vitest', 'run', ...reporters, ...r.args], { stdio: 'inherit', env, cwd: root });
        child.on('close', (code) => done(code));
      }),
  ),
);

const scan = spawnSync('npx', ['tsx', 'test/security/secretScan.ts', suiteLog], { encoding: 'utf8', cwd: root });
process.stderr.write(scan.stderr);
process.stdout.write(scan.stdout);

const readJson = (file) => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null);
const summary = summarize({
  runs: runs.map((r, i) => ({ label: r.label, status: statuses[i], report: readJson(r.report), unhandledErrors: readJson(r.errors)?.unhandledErrors ?? null })),
  typecheck: { status: tsc.status },
  scan: { status: scan.status, lines: Number(/(\d+) log lines/.exec(scan.stdout)?.[1] ?? 0) },
  ci: process.env.CI === 'true',
});
rmSync(work, { recursive: true, force: true });
if (summary.details.length) console.log(`\nfailed tests, first lines of each error:\n${summary.details.map((d) => `  - ${d}`).join('\n')}`);
if (summary.problems.length) console.log(`\nfailures:\n${summary.problems.map((p) => `  - ${p}`).join('\n')}`);
console.log(`\n${summary.line}`);
process.exit(summary.exitCode);
