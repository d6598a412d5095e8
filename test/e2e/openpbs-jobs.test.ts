/**
 * The job suite (test/e2e/suites/jobs.suite.ts) a third time, through the PBS adapter with
 * `flavor: 'pbspro'`, against the real OpenPBS 23.06 server of the test cluster
 * (test/cluster/openpbs.sh) over the real sshd. Same public results as on Slurm; where the
 * server's own view differs, the capability says how:
 *  - ids are `N.<server>`;
 *  - accounting is `qstat -x -f -F json` (job history), so `job.accounting` has the nodes;
 *  - a walltime kill is state F with Exit_status -29 (JOB_EXEC_KILL_WALLTIME);
 *  - a job the bridge deleted shows F with substate 91 in the server's history;
 *  - MoM (no cgroups hook) does not kill a job over its memory request within its 5 s;
 *  - qsub to a missing queue says "Unknown queue" without naming it.
 */
import { defineJobSuite } from './suites/jobs.suite.js';
import { OPENPBS, PBS_BIN } from './support/openpbs.js';

defineJobSuite('jobs on OpenPBS over SSH (pbs adapter, flavor pbspro)', OPENPBS, {
  nativeId: /^\d+\.[A-Za-z0-9.-]+$/,
  accounting: true,
  reportsWalltimeKill: true,
  walltimeKill: { state: /^F$/, reason: /Exit_status -29/ },
  reportsPendingReason: true,
  enforcesMemory: false,
  unknownQueueReason: /^rejected by the scheduler: .*qsub: Unknown queue$/,
  schedulerViewOfCancelled: { command: `${PBS_BIN}/qstat -x -f %ID% | grep -E 'job_state|substate'`, cancelledState: /job_state = F\s+substate = 91/ },
});
