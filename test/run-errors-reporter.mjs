/**
 * A vitest reporter that writes the errors caught outside any test (an unhandled rejection, an
 * error thrown from a timer after its test ended) to the file named by HPCB_RUN_ERRORS_FILE.
 * Vitest fails the run for them, but its JSON report leaves them out; test/run-tests.mjs counts
 * them from this file (see test/summary.mjs).
 */
import { writeFileSync } from 'node:fs';

export default class RunErrorsReporter {
  onTestRunEnd(_modules, unhandledErrors, reason) {
    const file = process.env.HPCB_RUN_ERRORS_FILE;
    if (!file) return;
    const errors = (unhandledErrors ?? []).map((e) => String(e?.stack ?? e?.message ?? e));
    writeFileSync(file, `${JSON.stringify({ reason, unhandledErrors: errors })}\n`);
  }
}
