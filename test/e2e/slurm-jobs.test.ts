/**
 * The job suite (test/e2e/suites/jobs.suite.ts) on the real Slurm over the real sshd.
 */
import { defineJobSuite } from './suites/jobs.suite.js';

defineJobSuite(
  'jobs on Slurm over SSH',
  { scheduler: 'slurm' },
  {
    nativeId: /^\d+$/,
    accounting: true,
    reportsWalltimeKill: true,
    reportsPendingReason: true,
    schedulerViewOfCancelled: { command: 'sacct -n -X -P -j %ID% -o State', cancelledState: /CANCELLED/ },
  },
);
