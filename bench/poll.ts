/**
 * Poll cost: scheduler commands per poll cycle and the daemon's CPU time per cycle with 10,
 * 100, 1,000 and 10,000 active jobs. The jobs are real: job arrays (at most 1,000 elements each,
 * under Slurm's default MaxArraySize) in the DOWN `parked` partition, so they stay pending, and
 * one queued row per element inserted into the store with its `<array>_<index>` id. Each level
 * runs the reconciler's tick by hand: one warm-up cycle, then three measured ones.
 * Baselines in the same run: the command count at the smallest level (target: it does not grow),
 * and the run time of that same squeue on the login node (what the scheduler side costs).
 * At the largest level the same database is opened by a daemon in its own process for the
 * footprint row "RSS with N active jobs".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { squeueStatusCommand } from '../adapters/slurm/parse.js';
import { shellJoin } from '../src/domain/quote.js';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import { buildSettings } from '../src/settings/load.js';
import { loadClusterEnv } from '../test/cluster/env.js';
import { onLogin } from '../test/e2e/support/lab.js';
import { insertJobs, makeRow, pct, runDaemonChild, sleep, type BenchOptions, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

const MIB = 1 << 20;

export async function runPollBench(opts: BenchOptions & { levels?: number[] } = {}): Promise<BenchRow[]> {
  const levels = opts.levels ?? (opts.quick ? [10, 100, 1000] : [10, 100, 1000, 10_000]);
  const log = opts.log ?? ((s: string) => console.error(s));
  const env = loadClusterEnv();
  const cancelParked = () => onLogin(env, `scancel --user=${env.user} --partition=parked`).catch(() => '');
  const rows: BenchRow[] = [];
  let baseCommands = 0;
  await cancelParked();
  for (const [li, k] of levels.entries()) {
    log(`poll: ${k} active jobs`);
    // Arrays of at most 1,000 elements (MaxArraySize 1001 by default in 22.05).
    const sizes: number[] = [];
    for (let left = k; left > 0; left -= 1000) sizes.push(Math.min(1000, left));
    // sbatch retries for ever when the controller refuses (e.g. MaxJobCount reached): bounded.
    const script = sizes.map((s) => `timeout 120 sbatch --parsable -p parked --job-name=hpcb-bench-poll --array=0-${s - 1} --wrap true || exit 1`).join('\n');
    const ids = (await onLogin(env, script)).trim().split('\n').map((l) => l.split(';')[0]!.trim());
    const native: string[] = [];
    ids.forEach((id, a) => {
      for (let i = 0; i < sizes[a]!; i++) native.push(`${id}_${i}`);
    });

    const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-poll-'));
    const cluster = {
      name: 'lab',
      scheduler: 'slurm',
      transport: 'ssh',
      ssh: { host: env.host, port: env.port, user: env.user, privateKey: env.privateKey, knownHosts: env.knownHosts },
      scratchRoot: `${env.scratchRoot}/bench-poll`,
      sharedAccount: true,
      pollIntervalSeconds: 1,
    };
    const settings = buildSettings({ dataDir, logLevel: 'silent' }, [{ file: '(bench)', raw: cluster }]);
    const bridge = Bridge.open(settings, { logger: silentLogger() });
    try {
      insertJobs(bridge.store, { count: k, owner: 'bench', cluster: 'lab', state: 'queued', nativeId: (i) => native[i]!, queue: 'parked' });
      const rec = bridge.reconciler('lab')!;
      const commands = () => rec.counters.statusCommands + rec.counters.accountingCommands + rec.counters.evidenceCommands + rec.counters.submitCommands;
      const cpuMs: number[] = [];
      const wallMs: number[] = [];
      let cmds = 0;
      for (let cycle = 0; cycle < 4; cycle++) {
        await sleep(1050); // the poll interval
        const c0 = commands();
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await rec.tick();
        const cpu = process.cpuUsage(cpu0);
        if (cycle === 0) continue; // warm-up: the first cycle also records each job's reason
        wallMs.push(performance.now() - t0);
        cpuMs.push((cpu.user + cpu.system) / 1000);
        cmds += commands() - c0;
      }
      const stillQueued = bridge.list({ owner: 'bench', scope: 'active', limit: 10_000 }).filter((j) => j.state === 'queued').length;
      if (stillQueued !== k) throw new Error(`poll bench: ${k - stillQueued} of ${k} jobs left the queue during the measurement`);
      const perCycle = cmds / 3;
      if (li === 0) baseCommands = perCycle;
      // The scheduler's side: the same squeue, timed on the login node.
      const sq = shellJoin(squeueStatusCommand(env.user));
      const sqUs = Number((await onLogin(env, `s=$(date +%s%N); ${sq} > /dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`)).trim());
      rows.push(
        makeRow(`poll cycle with ${k} active jobs: scheduler commands`, perCycle, 'commands', `the same at ${levels[0]} jobs`, baseCommands, 'target: does not grow with the number of jobs'),
        makeRow(`poll cycle with ${k} active jobs: daemon CPU`, pct(cpuMs, 50), 'ms', 'squeue run time on the login node', sqUs / 1000,
          `median of 3 cycles; lower is better; cycle wall time ${pct(wallMs, 50).toFixed(0)} ms`),
      );
      if (li === levels.length - 1) {
        await bridge.close();
        log(`footprint: daemon process with ${k} active jobs`);
        const child = await runDaemonChild({ dataDir, cluster, settleMs: 6000 });
        const bare = await runDaemonChild({ bare: true, dataDir, settleMs: 500 });
        rows.push(makeRow(`daemon RSS with ${k} active jobs`, child.rss / MIB, 'MiB', 'bare Node process with the same loader', bare.rss / MIB,
          `${child.polls ?? 0} polls of ${child.active ?? 0} active jobs in ${((child.wallMs ?? 0) / 1000).toFixed(1)} s used ${(child.cpuMs ?? 0).toFixed(0)} ms CPU`));
      }
    } finally {
      await bridge.close();
      await cancelParked();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runPollBench({ quick: process.argv.includes('--quick') })));
}
