/**
 * The counting behind `npm test`'s last line (test/summary.mjs), on made-up vitest reports shaped
 * like the real ones, and once end to end: the real runner on a tiny directory of failing tests
 * (test/run-tests-fixture/). Whatever happened, the printed count and the exit status agree.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { summarize, type Run, type VitestFile } from '../summary.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const file = (name: string, tests: string[], message = ''): VitestFile => ({
  name,
  status: message || tests.includes('failed') ? 'failed' : 'passed',
  message,
  assertionResults: tests.map((status, i) => ({ status, title: `t${i}`, fullName: `${name} t${i}` })),
});
const count = (files: VitestFile[], status: string) => files.flatMap((f) => f.assertionResults ?? []).filter((t) => t.status === status).length;
const run = (files: VitestFile[], over: Partial<Run> = {}): Run => ({
  label: 'vitest --project unit',
  status: files.some((f) => f.status === 'failed') ? 1 : 0,
  report: { numPassedTests: count(files, 'passed'), numFailedTests: count(files, 'failed'), numPendingTests: count(files, 'skipped'), numTodoTests: count(files, 'todo'), testResults: files },
  unhandledErrors: [],
  ...over,
});
const ok = { typecheck: { status: 0 }, scan: { status: 0, lines: 1200 }, ci: false };
const green = () => run([file('a.test.ts', ['passed', 'passed']), file('b.test.ts', ['passed'])]);

function check(s: ReturnType<typeof summarize>) {
  // The invariant of every case: the line states the counts, and the exit status follows them.
  expect(s.line).toBe(`${s.passed} passed, ${s.failed} failed${s.skipped ? `, ${s.skipped} skipped` : ''}`);
  expect(s.exitCode).toBe(s.failed > 0 ? 1 : 0);
  return s;
}

describe('the runner’s count', () => {
  it('a clean run: every test and the secret scan passed, exit 0', () => {
    const s = check(summarize({ runs: [green(), green()], ...ok }));
    expect(s).toMatchObject({ passed: 7, failed: 0, skipped: 0, problems: [], exitCode: 0, line: '7 passed, 0 failed' });
  });

  it('a vitest that wrote no report is one failure, and the exit status says so', () => {
    const s = check(summarize({ runs: [green(), { label: 'vitest --project cluster', status: 0, report: null, unhandledErrors: null }], ...ok }));
    expect(s).toMatchObject({ passed: 4, failed: 1, exitCode: 1 });
    expect(s.problems).toEqual(['vitest --project cluster: vitest wrote no report (exit status 0)']);
  });

  it('prints the head of each failed test’s error, colours removed, so a log’s tail tells why', () => {
    const f = file('proxy.test.ts', ['passed', 'failed']);
    f.assertionResults![1]!.failureMessages = ['\u001b[31mAssertionError: expected false to be true\u001b[39m\n' + Array.from({ length: 30 }, (_, i) => `    at frame ${i}`).join('\n')];
    const s = check(summarize({ runs: [run([f])], ...ok }));
    expect(s.details).toHaveLength(1);
    expect(s.details[0]).toContain('proxy.test.ts: proxy.test.ts t1\n      AssertionError: expected false to be true');
    expect(s.details[0]).not.toContain('\u001b');
    expect(s.details[0]!.split('\n').length).toBeLessThan(20);
  });

  it('an afterAll that fails in a file whose tests all passed is counted, next to the passes', () => {
    // The shape vitest 4 writes for it: the file failed, its message the hook's error.
    const r = run([file('scheduler-hang.test.ts', ['passed', 'passed'], 'integrity_check: 1 problem'), file('b.test.ts', ['passed'])]);
    const s = check(summarize({ runs: [r], ...ok }));
    expect(s).toMatchObject({ passed: 4, failed: 1, exitCode: 1 });
    expect(s.problems).toEqual(['vitest --project unit: scheduler-hang.test.ts: failed outside its tests: integrity_check: 1 problem']);
  });

  it('a failed beforeAll (its tests skipped) and an import error each count once', () => {
    const r = run([file('hook.test.ts', ['skipped', 'skipped'], 'beforeAll broke'), file('import.test.ts', [], "Cannot find module './x.js'"), file('b.test.ts', ['passed'])]);
    const s = check(summarize({ runs: [r], ...ok }));
    expect(s).toMatchObject({ passed: 2, failed: 2, skipped: 2, exitCode: 1 });
  });

  it('failures are all counted, never folded into one', () => {
    const r = run([file('a.test.ts', ['failed', 'failed', 'passed'], 'afterAll broke'), file('b.test.ts', ['failed'])]);
    const s = check(summarize({ runs: [r, { label: 'vitest --project cluster', status: 1, report: null, unhandledErrors: null }], ...ok, typecheck: { status: 2 } }));
    // 3 failed tests, 1 afterAll, 1 missing report, 1 type-check.
    expect(s).toMatchObject({ passed: 2, failed: 6, exitCode: 1 });
  });

  it('a run where every test was skipped is a failure, not "1 passed"', () => {
    const s = check(summarize({ runs: [run([file('a.test.ts', ['skipped', 'skipped', 'todo'])])], ...ok }));
    expect(s).toMatchObject({ passed: 1, failed: 1, skipped: 3, exitCode: 1, line: '1 passed, 1 failed, 3 skipped' });
    expect(s.problems).toEqual(['vitest --project unit: no test ran']);
    expect(check(summarize({ runs: [run([])], ...ok }))).toMatchObject({ failed: 1, problems: ['vitest --project unit: no test ran'] });
  });

  it('under CI=true every skip is a failure and is counted as one', () => {
    const r = run([file('a.test.ts', ['passed', 'skipped', 'todo']), file('b.test.ts', ['skipped'])]);
    expect(check(summarize({ runs: [r], ...ok }))).toMatchObject({ passed: 2, failed: 0, skipped: 3, exitCode: 0 });
    const s = check(summarize({ runs: [r], ...ok, ci: true }));
    expect(s).toMatchObject({ passed: 2, failed: 3, skipped: 0, exitCode: 1, line: '2 passed, 3 failed' });
  });

  it('a failed type-check is one failure even when every test passed', () => {
    const s = check(summarize({ runs: [green()], ...ok, typecheck: { status: 2 } }));
    expect(s).toMatchObject({ passed: 4, failed: 1, exitCode: 1, problems: ['type-check: tsc exited with status 2'] });
  });

  it('the secret scan: a finding, or no log lines at all, is a failure; a clean scan one pass', () => {
    expect(check(summarize({ runs: [green()], ...ok, scan: { status: 1, lines: 900 } }))).toMatchObject({ passed: 3, failed: 1, exitCode: 1 });
    expect(check(summarize({ runs: [green()], ...ok, scan: { status: 0, lines: 0 } }))).toMatchObject({ passed: 3, failed: 1, problems: ['secret scan: the suite wrote no log lines to scan'] });
  });

  it('errors outside any test, which the JSON report leaves out, are counted one each', () => {
    const s = check(summarize({ runs: [run([file('a.test.ts', ['passed'])], { status: 1, unhandledErrors: ['Error: thrown outside any test', 'Error: another'] })], ...ok }));
    expect(s).toMatchObject({ passed: 2, failed: 2, exitCode: 1 });
    // Not recorded at all (the reporter did not run) is a failure too.
    expect(check(summarize({ runs: [run([file('a.test.ts', ['passed'])], { unhandledErrors: null })], ...ok }))).toMatchObject({ failed: 1 });
  });

  it('a vitest that exited non-zero with nothing in its records is a named failure', () => {
    const s = check(summarize({ runs: [run([file('a.test.ts', ['passed'])], { status: 1 })], ...ok }));
    expect(s).toMatchObject({ failed: 1, problems: ['vitest --project unit: vitest exited with status 1 but its records show no failure'] });
  });
});

describe('the runner end to end', () => {
  it('on a directory of failing tests: exits 1 and prints one line per failure, their sum in the count', { timeout: 300_000 }, () => {
    const work = mkdtempSync(join(tmpdir(), 'hpcb-runner-'));
    try {
      const env: Record<string, string | undefined> = { ...process.env, HPCB_SUITE_LOG: join(work, 'suite.log') };
      delete env.CI;
      const r = spawnSync(process.execPath, [join(root, 'test/run-tests.mjs'), '--root', 'test/run-tests-fixture'], { cwd: root, env, encoding: 'utf8' });
      const out = r.stdout;
      const last = out.trim().split('\n').at(-1)!;
      const m = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/.exec(last);
      expect(m, out.slice(-3000)).not.toBeNull();
      const failures = out.slice(out.lastIndexOf('\nfailures:\n')).split('\n').filter((l) => l.startsWith('  - ')).map((l) => l.slice(4));
      const typecheck = failures.some((l) => l.startsWith('type-check:')) ? 1 : 0;
      // 1 failed test, afterAll in a passing file, beforeAll, import error, error outside tests,
      // and the secret scan with nothing to scan (these tests log nothing).
      expect(failures.filter((l) => !l.startsWith('type-check:')).map((l) => l.replace(/^vitest --root test\/run-tests-fixture: /, '').replace(/^\S*\/(\S+\.check\.mjs)/, '$1').split(':')[0])).toEqual([
        '1 failed test',
        'after-all.check.mjs',
        'before-all.check.mjs',
        'import-error.check.mjs',
        'error outside any test',
        'secret scan',
      ]);
      expect({ passed: Number(m![1]), failed: Number(m![2]), skipped: Number(m![3] ?? 0), status: r.status }).toEqual({ passed: 4, failed: 6 + typecheck, skipped: 3, status: 1 });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
