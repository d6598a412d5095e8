/**
 * Load on the login node while N jobs (1,000 by default) run through the bridge: SSH
 * connections opened, exec channels and SFTP channels per minute, from the transport's own
 * counters, from the first submission until the last job is terminal (outputs and logs
 * collected) or a window of 150 s has passed; jobs still active then are cancelled. Baseline in the same run: the jobs completed per minute, which is the
 * number of connections a tool opening one `ssh host sbatch` per job would open for submission
 * alone (before any status query or file transfer).
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import type { SshTransport } from '../src/transport/index.js';
import { labSettings, onLogin } from '../test/e2e/support/lab.js';
import { jobCounter, makeRow, sleep, type BenchOptions, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

export async function runLoginBench(opts: BenchOptions & { jobs?: number; windowSeconds?: number } = {}): Promise<BenchRow[]> {
  const n = opts.jobs ?? (opts.quick ? 100 : 1000);
  const windowSeconds = opts.windowSeconds ?? (opts.quick ? 60 : 150);
  const log = opts.log ?? ((s: string) => console.error(s));
  const lab = labSettings({ pollIntervalSeconds: 2 });
  const bridge = Bridge.open(lab.settings, { logger: silentLogger() });
  const rec = bridge.reconciler('lab')!;
  const prefix = `hb${bridge.store.instanceId()}-`;
  const transport = rec.rt.transport as SshTransport;
  bridge.start();
  try {
    log(`login: ${n} jobs through the bridge, counting SSH connections and channels`);
    const s0 = transport.stats();
    const c0 = { ...rec.counters };
    const t0 = performance.now();
    for (let i = 0; i < n; i++) bridge.submit('bench', { tasks: [{ cmd: 'echo $HOSTNAME' }], resources: { cpus: 1, walltime: 5 } });
    // The window: until every job is terminal, or `windowSeconds` (a full run of 1,000 jobs
    // would take ~10 minutes on a 2-core VM; the rates are per minute either way).
    const jobs = jobCounter(bridge.store);
    const active = () => jobs.count("SELECT COUNT(*) AS n FROM jobs WHERE state NOT IN ('completed', 'failed', 'killed', 'deleted')");
    const deadline = Date.now() + windowSeconds * 1000;
    while (active() > 0 && Date.now() < deadline) await sleep(250);
    const minutes = (performance.now() - t0) / 60_000;
    const s1 = transport.stats();
    const c = { ...rec.counters };
    const done = jobs.count("SELECT COUNT(*) AS n FROM jobs WHERE state = 'completed'");
    const left = active();
    jobs.close();
    const perMin = (x: number) => x / minutes;
    const polls = c.polls - c0.polls;
    const jobsPerMin = perMin(done);
    const note = `${n} jobs submitted, ${done} completed in the ${(minutes * 60).toFixed(0)} s measured${left ? ` (${left} still active, then cancelled)` : ''}`;
    return [
      makeRow(`SSH connections opened per minute while ${n} jobs run`, perMin(s1.connectionsOpened - s0.connectionsOpened), 'per min', 'ssh sbatch per job: connections per minute at the same job rate', jobsPerMin, `${note}; lower is better`),
      makeRow(`exec channels per minute while ${n} jobs run`, perMin(s1.execs - s0.execs), 'per min', 'jobs completed per minute', jobsPerMin,
        `${note}; ${polls} polls, ${c.submitCommands - c0.submitCommands} submit, ${c.evidenceCommands - c0.evidenceCommands} evidence, ${c.accountingCommands - c0.accountingCommands} accounting commands; the rest are stage-in/stage-out programs`),
      makeRow(`all channels (exec + SFTP) per minute while ${n} jobs run`, perMin(s1.channelsOpened - s0.channelsOpened), 'per min', 'jobs completed per minute', jobsPerMin, `${note}; SFTP reuses one channel per connection`),
    ];
  } finally {
    await bridge.close();
    // Whatever is still queued or running: only this run's jobs (their names carry its tag prefix).
    await onLogin(lab.env, `squeue -h --user=${lab.env.user} -o '%i %j' | awk -v p=${prefix} 'index($2, p) == 1 { print $1 }' | xargs -r scancel`).catch(() => '');
    await onLogin(lab.env, `rm -rf ${lab.scratchRoot}`).catch(() => '');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runLoginBench({ quick: process.argv.includes('--quick') })));
}
