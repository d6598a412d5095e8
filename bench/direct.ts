/**
 * `direct` at the speed of the machine: trivial jobs (`true`) through the whole path (SDK
 * create over HTTP, stage-in, submit, poll, evidence, stage-out, terminal) on the embedded
 * default cluster (direct, local transport, 1 s poll), in jobs per second from the first
 * create to the last terminal state. Baseline in the same run: the same number of detached
 * `true` processes started by one bash loop, the least a job costs on this machine.
 *
 * The SDK client runs in a process of its own (bench/direct-client.ts), as a user's script does,
 * so the daemon's CPU per job printed is the daemon's alone.
 *
 * Also prints where a job's time goes (mean seconds in each phase, from the event log), which
 * is what says whether the bound is the engine's loop, the execs or the runner.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildApp } from '../src/api/app.js';
import { listen } from '../src/api/listen.js';
import { TokenStore } from '../src/auth/tokens.js';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import { buildSettings } from '../src/settings/load.js';
import { makeRow, openDatabase, sleep, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

const CLIENT = fileURLToPath(new URL('./direct-client.ts', import.meta.url));

export async function runDirectBench(opts: { jobs?: number; pollIntervalSeconds?: number } = {}): Promise<BenchRow[]> {
  const n = opts.jobs ?? 500;
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-direct-'));
  const settings = buildSettings({ dataDir, logLevel: 'silent' }, [
    { file: '(bench)', raw: { name: 'local', scheduler: 'direct', transport: 'local', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: opts.pollIntervalSeconds ?? 1 } },
  ]);
  const bridge = Bridge.open(settings, { logger: silentLogger() });
  const token = new TokenStore(bridge.store.tokens).create('bench').token;
  const server = await listen(buildApp(bridge, { logger: silentLogger() }), { host: '127.0.0.1', port: 0 });
  bridge.start();
  let client: ChildProcess | undefined;
  try {
    const proc = spawn(process.execPath, ['--import', 'tsx', CLIENT, JSON.stringify({ url: server.url, token, n })], { stdio: ['pipe', 'pipe', 'inherit'] });
    client = proc;
    const said = createInterface({ input: proc.stdout });
    const line = (want: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const onLine = (l: string): void => {
          if (l !== want) return;
          said.off('line', onLine);
          resolve();
        };
        said.on('line', onLine);
        proc.once('exit', (code) => reject(new Error(`the bench's SDK client exited (${code}) before saying ${want}`)));
      });
    await line('ready');
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    proc.stdin.write('go\n');
    await line('created');
    const created = performance.now();
    const db = openDatabase(bridge.store, { readonly: true });
    const terminal = db.prepare(`SELECT COUNT(*) AS c FROM jobs WHERE kind = 'job' AND state IN ('completed','failed','killed','deleted')`);
    while ((terminal.get() as { c: number }).c < n) await sleep(20);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    console.error(`direct: the daemon ${((cpu.user + cpu.system) / 1000 / n).toFixed(2)} ms CPU per job`);
    const failed = db.prepare(`SELECT COUNT(*) AS c FROM jobs WHERE state != 'completed'`).get() as { c: number };
    if (failed.c > 0) throw new Error(`${failed.c} trivial jobs did not complete`);
    // Where the time goes: mean time from entering each phase to leaving it.
    const phases = db
      .prepare(
        `SELECT e.from_state AS phase, AVG(e.at - p.at) / 1000.0 AS s FROM job_events e JOIN job_events p ON p.job_id = e.job_id AND p.to_state = e.from_state
         WHERE e.from_state IS NOT NULL GROUP BY e.from_state ORDER BY s DESC`,
      )
      .all() as { phase: string; s: number }[];
    db.close();
    console.error(`direct: ${n} jobs created in ${((created - t0) / 1000).toFixed(2)} s, all terminal after ${seconds.toFixed(2)} s; mean seconds per phase: ${phases.map((p) => `${p.phase} ${p.s.toFixed(3)}`).join(', ')}`);
    const b0 = performance.now();
    execFileSync('bash', ['-c', `for ((i=0;i<${n};i++)); do setsid true </dev/null >/dev/null 2>&1 & done; wait`]);
    const baseline = n / ((performance.now() - b0) / 1000);
    const rate = n / seconds;
    return [makeRow(`trivial jobs per second on direct (${n} \`true\` jobs, SDK create to terminal)`, Math.round(rate * 10) / 10, 'jobs/s', 'the same number of detached `true` processes from one bash loop', Math.round(baseline), 'higher is better; ratio = bridge / baseline')];
  } finally {
    client?.kill();
    await server.close();
    await bridge.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runDirectBench({ jobs: Number(process.argv[2] ?? 500) })));
}
