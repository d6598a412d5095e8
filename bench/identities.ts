/**
 * Polling with identities: scheduler commands per poll cycle when 1, 10 and 50 users, each
 * mapped to its own Unix account, hold active jobs; once with one status command per identity
 * (each as that account: `squeue --user=<account>`), once with a monitor identity (one squeue
 * for all users). Also the transports (SSH connections) the cycle opened.
 *
 * The identities are simulated in-process: 50 Unix accounts with keys do not exist on the test
 * cluster, so each account's transport is a stand-in that counts the commands it is given and
 * answers as a scheduler that lists no jobs (the jobs are marked submitted after the poll
 * started, so an empty answer moves none of them and every cycle asks again). What is measured
 * is the engine's command count and its CPU per cycle, not the scheduler's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import { buildSettings } from '../src/settings/load.js';
import type { TransportPool } from '../src/transport/pool.js';
import type { Transport } from '../src/transport/transport.js';
import { insertJobs, makeRow, openDatabase, pct, sleep, type BenchOptions, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

const JOBS_PER_USER = 4;

function countingTransport(account: string, seen: string[]): Transport {
  const t = {
    id: `sim:${account}`,
    exec: async (argv: readonly string[]) => {
      seen.push(`${account}: ${argv[0]}`);
      return { exitCode: 0, signal: null, stdout: '', stderr: '', durationMs: 0 };
    },
    close: async () => undefined,
  };
  return t as unknown as Transport;
}

async function cycle(users: number, monitor: boolean): Promise<{ commands: number; opened: number; cpuMs: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-ids-'));
  const accounts = Array.from({ length: users }, (_, i) => `sim${String(i + 1).padStart(3, '0')}`);
  const userCfg = Object.fromEntries(accounts.map((a) => [`user-${a}`, { identities: { sim: { user: a, agent: true } } }]));
  const cluster = {
    name: 'sim',
    scheduler: 'slurm',
    transport: 'ssh',
    ssh: { host: 'login.sim', user: 'svc', agent: true, knownHosts: '/dev/null' },
    scratchRoot: '/scratch/{user}/hpc-bridge',
    pollIntervalSeconds: 0.2,
    ...(monitor ? { monitor: { user: 'hpcmon', agent: true } } : {}),
  };
  const settings = buildSettings({ dataDir, logLevel: 'silent', users: userCfg }, [{ file: '(bench)', raw: cluster }]);
  const seen: string[] = [];
  const bridge = Bridge.open(settings, { logger: silentLogger(), transportFor: (_c, account) => countingTransport(account, seen) });
  try {
    const future = Date.now() + 3600_000;
    for (const a of accounts) insertJobs(bridge.store, { count: JOBS_PER_USER, owner: `user-${a}`, cluster: 'sim', state: 'queued' });
    const db = openDatabase(bridge.store);
    try {
      db.prepare("UPDATE jobs SET cluster_user = substr(owner, 6), submitted_at = ?").run(future);
    } finally {
      db.close();
    }
    const rec = bridge.reconciler('sim')!;
    const pool = (rec.rt as unknown as { pool: TransportPool }).pool;
    const counts: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < 4; i++) {
      await sleep(250); // past the poll interval
      const before = seen.length;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await rec.tick();
      const c = process.cpuUsage(c0);
      void t0;
      if (i === 0) continue;
      counts.push(seen.length - before);
      cpu.push((c.user + c.system) / 1000);
    }
    const active = bridge.list({ scope: 'active', limit: 100_000 }).filter((j) => j.state === 'queued').length;
    if (active !== users * JOBS_PER_USER) throw new Error(`identities bench: ${users * JOBS_PER_USER - active} jobs moved during the measurement`);
    return { commands: pct(counts, 50), opened: pool.stats().opened, cpuMs: pct(cpu, 50) };
  } finally {
    await bridge.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function runIdentitiesBench(opts: BenchOptions = {}): Promise<BenchRow[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const rows: BenchRow[] = [];
  for (const users of [1, 10, 50]) {
    log(`identities: ${users} users with active jobs`);
    const own = await cycle(users, false);
    const mon = await cycle(users, true);
    rows.push(
      makeRow(`poll cycle, ${users} users with active jobs: scheduler commands, one per identity`, own.commands, 'commands', 'with a monitor identity', mon.commands,
        `${JOBS_PER_USER} jobs each; identities simulated in-process (bench/identities.ts); connections opened ${own.opened} per identity vs ${mon.opened} with the monitor`),
      makeRow(`poll cycle, ${users} users with active jobs: daemon CPU, one per identity`, own.cpuMs, 'ms', 'with a monitor identity', mon.cpuMs, 'median of 3 cycles; lower is better'),
    );
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runIdentitiesBench()));
}
