/** Types of test/summary.mjs (plain JavaScript, so that `node test/run-tests.mjs` runs it as is). */
export interface VitestFile {
  name: string;
  status: string;
  message?: string;
  assertionResults?: { status: string; title?: string; fullName?: string; failureMessages?: string[] }[];
}
export interface VitestReport {
  numPassedTests?: number;
  numFailedTests?: number;
  numPendingTests?: number;
  numTodoTests?: number;
  testResults?: VitestFile[];
}
export interface Run {
  label: string;
  status: number | null;
  report: VitestReport | null;
  unhandledErrors: string[] | null;
}
export interface Summary {
  passed: number;
  failed: number;
  skipped: number;
  problems: string[];
  /** Each failed test's file, name and the head of its first error. */
  details: string[];
  exitCode: 0 | 1;
  line: string;
}
export function summarize(input: { runs: Run[]; typecheck: { status: number | null }; scan: { status: number | null; lines: number }; ci: boolean }): Summary;
