/**
 * The staging suite (test/e2e/suites/staging.suite.ts) on the real OpenPBS server: inputs,
 * artifacts and archives in, outputs of a failed job, logs while the job runs, a stage-out across
 * a daemon SIGKILL. Same assertions as on Slurm. The 2 GiB round trip is left to Slurm
 * (`bigRoundTrip: false`): its bytes never meet the scheduler.
 */
import { defineStagingSuite } from './suites/staging.suite.js';
import { OPENPBS } from './support/openpbs.js';

defineStagingSuite('on OpenPBS over SSH (pbs adapter, flavor pbspro)', OPENPBS, { bigRoundTrip: false });
