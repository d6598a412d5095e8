/**
 * Wait latency: from the daemon recording a job's terminal state (the store transition) to the
 * SDK's `job.wait()` returning over HTTP, for 200 jobs one after another. The daemon runs with
 * its reconcilers stopped and the terminal transition is applied directly, so what is measured
 * is the notification path (store event -> long-poll answer -> fetch -> SDK), not a poll.
 * Baseline in the same run: the round trip of a plain `GET /healthz` on the same connection
 * pool, the least any HTTP answer can cost here.
 */
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
import { benchTable, type BenchRow } from './transport.js';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runWaitBench(opts: { jobs?: number } = {}): Promise<BenchRow[]> {
  const n = opts.jobs ?? 200;
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-wait-'));
  const settings = buildSettings({ dataDir, logLevel: 'silent' }, [
    { file: '(bench)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 3600 } },
  ]);
  const bridge = Bridge.open(settings, { logger: silentLogger() });
  const token = new TokenStore(bridge.store.tokens).create('bench').token;
  const server = await listen(buildApp(bridge, { logger: silentLogger() }), { host: '127.0.0.1', port: 0 });
  const client = new Client({ url: server.url, token });
  try {
    const latencies: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < n; i++) {
      const job = await new Job({ tasks: [{ cmd: 'true' }] }, client).create();
      const waiting = job.wait({ timeout: 60 }).then(() => performance.now());
      // Let the long-poll reach the daemon before the state changes.
      await new Promise((r) => setTimeout(r, 5));
      const t0 = performance.now();
      bridge.store.transition(job.id!, ['accepted'], 'deleted', { statusReason: 'bench' }, 'bench');
      latencies.push((await waiting) - t0);
      const h0 = performance.now();
      await fetch(`${server.url}/api/v1/healthz`).then((r) => r.arrayBuffer());
      baseline.push(performance.now() - h0);
    }
    latencies.sort((a, b) => a - b);
    baseline.sort((a, b) => a - b);
    const r = (x: number) => Math.round(x * 100) / 100;
    const row = (name: string, v: number, b: number): BenchRow => ({ name, value: r(v), unit: 'ms', baseline: 'GET /healthz round trip', baselineValue: r(b), ratio: r(v / b), note: 'lower is better; ratio = bridge / baseline' });
    return [row(`wait() latency after the terminal state, median of ${n}`, pct(latencies, 50), pct(baseline, 50)), row(`wait() latency after the terminal state, p95 of ${n}`, pct(latencies, 95), pct(baseline, 95))];
  } finally {
    await server.close();
    await bridge.close();
  }
}


/**
 * wait() with many clients at once: `waiters` jobs, each with its own SDK wait() in flight at
 * the same time (one connection each), then every job made terminal in one burst. Latency per
 * waiter: from its job's terminal transition to its wait() returning. Baseline in the same
 * run: `waiters` concurrent GET /healthz round trips.
 */
export async function runConcurrentWaitBench(opts: { waiters?: number } = {}): Promise<BenchRow[]> {
  const n = opts.waiters ?? 1000;
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-waiters-'));
  const settings = buildSettings({ dataDir, logLevel: 'silent' }, [
    { file: '(bench)', raw: { name: 'here', scheduler: 'direct', scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 3600 } },
  ]);
  const bridge = Bridge.open(settings, { logger: silentLogger() });
  const token = new TokenStore(bridge.store.tokens).create('bench').token;
  const app = buildApp(bridge, { logger: silentLogger() });
  const server = await listen(app, { host: '127.0.0.1', port: 0 });
  const client = new Client({ url: server.url, token });
  try {
    const jobs: Job[] = [];
    for (let i = 0; i < n; i++) jobs.push(await new Job({ tasks: [{ cmd: 'true' }] }, client).create());
    const returned = new Map<number, number>();
    const waits = jobs.map((j) => j.wait({ timeout: 120 }).then(() => returned.set(j.id!, performance.now())));
    while (app.hub.waiting < n) await new Promise((r) => setTimeout(r, 20));
    const at = new Map<number, number>();
    for (const j of jobs) {
      at.set(j.id!, performance.now());
      bridge.store.transition(j.id!, ['accepted'], 'deleted', { statusReason: 'bench' }, 'bench');
    }
    await Promise.all(waits);
    const latencies = jobs.map((j) => returned.get(j.id!)! - at.get(j.id!)!).sort((a, b) => a - b);
    const baseline = await Promise.all(
      Array.from({ length: n }, async () => {
        const t = performance.now();
        await fetch(`${server.url}/api/v1/healthz`).then((r) => r.arrayBuffer());
        return performance.now() - t;
      }),
    );
    baseline.sort((a, b) => a - b);
    const r = (x: number) => Math.round(x * 100) / 100;
    const row = (name: string, v: number, b: number): BenchRow => ({ name, value: r(v), unit: 'ms', baseline: `${n} concurrent GET /healthz round trips`, baselineValue: r(b), ratio: r(v / b), note: 'lower is better; ratio = bridge / baseline' });
    return [row(`wait() latency with ${n} concurrent waiters, all jobs ending at once, median`, pct(latencies, 50), pct(baseline, 50)), row(`wait() latency with ${n} concurrent waiters, all jobs ending at once, p95`, pct(latencies, 95), pct(baseline, 95))];
  } finally {
    await server.close();
    await bridge.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(process.argv[2] === 'concurrent' ? await runConcurrentWaitBench() : await runWaitBench()));
}
