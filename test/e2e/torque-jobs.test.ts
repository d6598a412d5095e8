/**
 * The job suite (test/e2e/suites/jobs.suite.ts) a second time, through the PBS adapter with
 * `flavor: 'torque'`, against the real Torque-compatible qsub/qstat/qdel of the test cluster
 * (slurm-wlm-torque 22.05, Perl wrappers over Slurm) over the real sshd.
 *
 * What the wrappers do not emulate, and what the suite asserts instead (docs/SCHEDULERS.md,
 * "What the Torque wrappers on our test cluster do not emulate"):
 *  - qstat has no exit_status and prints `C` for every finished job, so exit codes come from the
 *    runner's exit-code files, and a walltime kill is told by the runner's `.hpcb/terminated`
 *    (SIGTERM once the walltime was used up), not by the scheduler's state;
 *  - an OOM-killed job shows `U` (the wrappers' letter for Slurm OUT_OF_MEMORY and DEADLINE), so
 *    the memory kill is told from Slurm's "oom-kill event" line in the scheduler's stderr and the
 *    task's exit status 137;
 *  - qsub overrides `#PBS -o/-e`, so the adapter repeats them on qsub's command line;
 *  - no accounting (Torque keeps no history): `job.accounting` stays empty;
 *  - qstat prints no comment for a queued job, so the reason is only "waiting in the queue";
 *  - no `qstat -x`: the adapter's status program falls back to `qstat -f` text (checked below).
 */
import { describe, expect, it } from 'vitest';
import { createPbsAdapter } from '../../adapters/pbs/index.js';
import { detectStatusFormat } from '../../adapters/pbs/parse.js';
import { shellQuote } from '../../src/domain/quote.js';
import { defineJobSuite } from './suites/jobs.suite.js';
import { onLogin } from './support/lab.js';
import { loadClusterEnv } from '../cluster/env.js';

defineJobSuite(
  'jobs on the Torque wrappers over SSH (pbs adapter, flavor torque)',
  { scheduler: 'pbs', flavor: 'torque' },
  {
    // The wrappers print a bare Slurm id; a real Torque prints 123.server.
    nativeId: /^\d+(?:\.\S+)?$/,
    accounting: false,
    reportsWalltimeKill: false,
    finishedState: /^C$/,
    memoryKillState: /^U$/,
    reportsPendingReason: false,
    // What a PBS user sees: the job is finished (C) in qstat while the wrappers still list it.
    schedulerViewOfCancelled: { command: 'qstat -f %ID% | grep job_state', cancelledState: /job_state = C/ },
    // Ground truth under the wrappers (the harness's check, not the adapter's evidence).
    groundTruthOfCancelled: { command: 'sacct -n -X -P -j %ID% -o State', cancelledState: /CANCELLED/ },
  },
);

describe('status format fallback on the Torque wrappers', () => {
  it("qstat -x is refused, and the adapter's auto status program answers in qstat -f text", async () => {
    const env = loadClusterEnv();
    // The wrappers' refusal, as a user on the login node sees it.
    const refused = await onLogin(env, 'qstat -x >/dev/null 2>&1; echo "rc=$?"; qstat -x 2>&1 | head -1');
    expect(refused).toMatch(/^rc=2\n/);
    expect(refused).toMatch(/Unknown option: x/);

    // A job of our own that stays queued (partition parked is DOWN), so the answer is not empty.
    const id = (await onLogin(env, `printf '#!/bin/bash\\n#PBS -N hpcbfallback\\n#PBS -q parked\\ntrue\\n' > /tmp/hpcb-fallback.$$.sh && cd /tmp && qsub /tmp/hpcb-fallback.$$.sh`)).trim();
    expect(id).toMatch(/^\d+$/);
    try {
      const adapter = createPbsAdapter({ flavor: 'torque' });
      const argv = adapter.statusCommand(env.user);
      expect(argv.slice(0, 2)).toEqual(['bash', '-c']); // the 'auto' program, not plain qstat -x
      const out = await onLogin(env, `${argv.map(shellQuote).join(' ')}; echo "@@rc=$?"`);
      const m = /^([\s\S]*)@@rc=(\d+)\n$/.exec(out)!;
      expect(m[2]).toBe('0');
      expect(detectStatusFormat(m[1]!)).toBe('text');
      const mine = adapter.parseStatus({ exitCode: 0, signal: null, stdout: m[1]!, stderr: '', durationMs: 0 }).find((o) => o.nativeId === id);
      expect(mine).toMatchObject({ nativeId: id, state: 'pending', nativeState: 'Q', name: 'hpcbfallback' });
    } finally {
      await onLogin(env, `qdel ${id}; rm -f /tmp/hpcb-fallback.*.sh`);
    }
  });
});
