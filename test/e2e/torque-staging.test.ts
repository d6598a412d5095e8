/**
 * The staging suite (test/e2e/suites/staging.suite.ts) a second time, through the PBS adapter
 * with `flavor: 'torque'`, against the real Torque-compatible qsub/qstat/qdel of the test cluster
 * (slurm-wlm-torque 22.05, Perl wrappers over Slurm) over the real sshd: inputs, artifacts and
 * archives in, outputs of a failed job, logs while the job runs, a stage-out across a daemon
 * SIGKILL. Same assertions as on Slurm.
 *
 * What the wrappers do not emulate, as far as staging goes: PBS's own file staging (`qsub -W
 * stagein=/stageout=`; the wrapper drops every `-W` attribute but umask, depend, group_list and
 * block). The bridge does not use it: it stages over the transport, so nothing here depends on it.
 * Exit codes come from the runner's exit-code files, as in the job suite (qstat prints `C` with no
 * exit_status), which is how the failed job below is told from a completed one.
 *
 * Not run here: the 2 GiB round trip (`bigRoundTrip: false`). Its bytes go through the staging
 * service and the transport only, the job's part being one `cp`, so a second run would test
 * nothing the Slurm run and the smaller tests here do not.
 */
import { defineStagingSuite } from './suites/staging.suite.js';

defineStagingSuite('on the Torque wrappers over SSH (pbs adapter, flavor torque)', { scheduler: 'pbs', flavor: 'torque' }, { bigRoundTrip: false });
