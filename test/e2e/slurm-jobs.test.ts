/**
 * The job suite (test/e2e/suites/jobs.suite.ts) on the real Slurm over the real sshd, as two
 * bridge users mapped to two Unix accounts (alice: hpcuser, bob: hpcuser2), their jobs in turn.
 */
import { defineJobSuite } from './suites/jobs.suite.js';

defineJobSuite(
  'jobs on Slurm over SSH',
  { scheduler: 'slurm', identities: true },
  {
    nativeId: /^\d+$/,
    accounting: true,
    reportsWalltimeKill: true,
    reportsPendingReason: true,
    schedulerViewOfCancelled: { command: 'sacct -n -X -P -j %ID% -o State', cancelledState: /CANCELLED/ },
  },
);
