/**
 * `direct` at the speed of the machine: trivial jobs (`true`) through the whole path (SDK
 * create over HTTP, stage-in, submit, poll, evidence, stage-out, terminal) on the embedded
 * default cluster (direct, local transport, 1 s poll), in jobs per second from the first
 * create to the last terminal state. Baseline in the same run: the same number of detached
 * `true` processes started by one bash loop, the least a job costs on this machine.
 *
 * Also prints where a job's time goes (mean seconds in each phase, from the event log), which
 * is what says whether the bound is the engine's loop, the execs or the runner.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { buildApp } from '../src/api/app.js';
import { listen } from '../src/api/listen.js';
import { TokenStore } from '../src/auth/tokens.js';
import { Bridge } from '../src/bridge.js';
import { Client, Job } from '../src/client/index.js';
import { silentLogger } from '../src/logging.js';
import { buildSettings } from '../src/settings/load.js';
import { makeRow, openDatabase, sleep, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

export async function runDirectBench(opts: { jobs?: number; pollIntervalSeconds?: number } = {}): Promise<BenchRow[]> {
  const n = opts.jobs ?? 500;
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-direct-'));
  const settings = buildSettings({ dataDir, logLevel: 'silent' }, [
    { file: '(bench)', raw: { name: 'local', scheduler: 'direct', transport: 'local', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: opts.pollIntervalSeconds ?? 1 } },
  ]);
  const bridge = Bridge.open(settings, { logger: silentLogger() });
  const token = new TokenStore(bridge.store.tokens).create('bench').token;
  const server = await listen(buildApp(bridge, { logger: silentLogger() }), { host: '127.0.0.1', port: 0 });
  const client = new Client({ url: server.url, token });
  bridge.start();
  try {
    const t0 = performance.now();
    let next = 0;
    const ids: number[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < n) {
          next++;
          ids.push((await new Job({ tasks: [{ cmd: 'true' }] }, client).create()).id!);
        }
      }),
    );
    const created = performance.now();
    const db = openDatabase(bridge.store, { readonly: true });
    const terminal = db.prepare(`SELECT COUNT(*) AS c FROM jobs WHERE kind = 'job' AND state IN ('completed','failed','killed','deleted')`);
    while ((terminal.get() as { c: number }).c < n) await sleep(20);
    const seconds = (performance.now() - t0) / 1000;
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
    await server.close();
    await bridge.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runDirectBench({ jobs: Number(process.argv[2] ?? 500) })));
}
