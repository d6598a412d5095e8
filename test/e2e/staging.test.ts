/**
 * The staging suite (test/e2e/suites/staging.suite.ts) on the real Slurm over the real sshd,
 * including the 2 GiB round trip, which runs on Slurm only (nothing in it is scheduler-specific).
 */
import { defineStagingSuite } from './suites/staging.suite.js';

defineStagingSuite('on Slurm over SSH', { scheduler: 'slurm' }, { bigRoundTrip: true });
