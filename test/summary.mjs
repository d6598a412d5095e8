/**
 * The counting behind `npm test`'s last line, kept apart from the processes it counts so that it
 * can be tested on made-up reports (test/unit/runner-summary.test.ts). One rule holds whatever
 * happened: the exit status is non-zero exactly when the printed failure count is, and every
 * failure is a line in `problems`, so no failure is folded into another or made up silently.
 *
 * What counts as one failure:
 *  - the type-check failing;
 *  - a vitest process that wrote no JSON report (it did not run its tests, or died);
 *  - each failed test;
 *  - each test file that failed outside its tests: an import error, a failed beforeAll or afterAll
 *    (vitest marks the file failed and puts the error in its `message`, even when every test in
 *    it passed);
 *  - each error vitest caught outside any test (an unhandled rejection), which the JSON report
 *    leaves out: test/run-errors-reporter.mjs records them;
 *  - a vitest process that ran no test at all (everything skipped, or nothing matched);
 *  - under CI=true, each skipped or to-do test: in CI a missing part is a failure, never a skip;
 *  - a vitest process that exited non-zero with none of the above in its records, named as such;
 *  - the secret scan failing, or having no log lines to scan.
 * The secret scan counts as one passed test when it passes.
 */

/**
 * `runs`: one entry per vitest process (its label, exit status, parsed JSON report or null, the
 * errors test/run-errors-reporter.mjs recorded or null); the shapes are in test/summary.d.mts.
 */
export function summarize({ runs, typecheck, scan, ci }) {
  let passed = 0;
  let skipped = 0;
  const failures = [];
  // The head of each failed test's first error, printed after the list: a CI log often keeps
  // only its tail, and a failure seen once under load must be diagnosable from that tail.
  const details = [];
  const fail = (text, count = 1) => failures.push({ count, text });
  if (typecheck.status !== 0) fail(`type-check: tsc exited with status ${typecheck.status}`);
  for (const run of runs) {
    const before = failures.length;
    const r = run.report;
    if (!r) {
      fail(`${run.label}: vitest wrote no report (exit status ${run.status})`);
      continue;
    }
    const ok = r.numPassedTests ?? 0;
    const bad = r.numFailedTests ?? 0;
    const skips = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    passed += ok;
    if (bad > 0) {
      const names = (r.testResults ?? []).flatMap((f) => (f.assertionResults ?? []).filter((t) => t.status === 'failed').map((t) => t.fullName ?? t.title));
      fail(`${run.label}: ${bad} failed test${bad === 1 ? '' : 's'}${names.length ? `: ${names.join('; ')}` : ''}`, bad);
      for (const f of r.testResults ?? []) {
        for (const t of (f.assertionResults ?? []).filter((a) => a.status === 'failed')) {
          details.push(`${f.name}: ${t.fullName ?? t.title}\n${headOf(t.failureMessages?.[0] ?? '(no message)')}`);
        }
      }
    }
    for (const f of r.testResults ?? []) {
      if (f.status !== 'failed') continue;
      const message = (f.message ?? '').trim();
      const failedTests = (f.assertionResults ?? []).some((t) => t.status === 'failed');
      if (message) fail(`${run.label}: ${f.name}: failed outside its tests: ${message.split('\n')[0]}`);
      else if (!failedTests) fail(`${run.label}: ${f.name}: failed with no failed test and no message`);
    }
    if (run.unhandledErrors === null) fail(`${run.label}: no record of errors outside tests (test/run-errors-reporter.mjs did not run)`);
    else for (const e of run.unhandledErrors) fail(`${run.label}: error outside any test: ${e.split('\n')[0]}`);
    if (skips > 0 && ci) fail(`${run.label}: ${skips} skipped under CI=true, each a failure`, skips);
    else skipped += skips;
    if (ok + bad === 0 && failures.length === before) fail(`${run.label}: no test ran`);
    if (run.status !== 0 && failures.length === before) fail(`${run.label}: vitest exited with status ${run.status} but its records show no failure`);
  }
  if (scan.status === 0 && scan.lines > 0) passed += 1;
  else if (scan.lines === 0) fail('secret scan: the suite wrote no log lines to scan');
  else fail(`secret scan: exited with status ${scan.status} (its findings are printed above)`);

  const failed = failures.reduce((n, f) => n + f.count, 0);
  const line = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
  return { passed, failed, skipped, details, problems: failures.map((f) => (f.count > 1 ? `[${f.count}] ${f.text}` : f.text)), exitCode: failed > 0 ? 1 : 0, line };
}

/** The first lines of an error, without colour codes, indented for the summary. */
function headOf(message) {
  // eslint-disable-next-line no-control-regex
  const plain = message.replace(/\u001b\[[0-9;]*m/g, '');
  return plain.split('\n').slice(0, 14).map((l) => `      ${l.slice(0, 300)}`).join('\n');
}
