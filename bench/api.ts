/**
 * API under load and the database footprint. No cluster is touched: the daemon runs with a
 * `direct` cluster whose reconciler is not started, so what is measured is the HTTP layer,
 * validation and SQLite.
 *   - job creations per second and p95 latency with 16 concurrent clients (POST /jobs), against
 *     GET /healthz with the same 16 clients (the least any answer costs here);
 *   - GET /jobs (newest page of 100, all states) p95 with 100,000 jobs in the database, against
 *     GET /healthz;
 *   - SQLite file size per 100,000 finished jobs (8 events each), against the size of the same
 *     jobs' definitions alone;
 *   - daemon RSS idle and with those 100,000 jobs, each in its own process.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { buildApp } from '../src/api/app.js';
import { listen } from '../src/api/listen.js';
import { TokenStore } from '../src/auth/tokens.js';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import { buildSettings } from '../src/settings/load.js';
import { insertJobs, makeRow, pct, runDaemonChild, trivialSpecJson, type BenchOptions, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

const MIB = 1 << 20;

/** `total` requests from `clients` concurrent loops; returns each request's latency in ms and the rate. */
async function load(clients: number, total: number, request: (i: number) => Promise<void>): Promise<{ latencies: number[]; perSecond: number }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        await request(i);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { latencies, perSecond: total / ((performance.now() - t0) / 1000) };
}

export async function runApiBench(opts: BenchOptions & { creations?: number; dbJobs?: number } = {}): Promise<BenchRow[]> {
  const creations = opts.creations ?? (opts.quick ? 300 : 2000);
  const dbJobs = opts.dbJobs ?? (opts.quick ? 10_000 : 100_000);
  const clients = 16;
  const log = opts.log ?? ((s: string) => console.error(s));
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-api-'));
  const cluster = { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 3600 };
  const settings = buildSettings({ dataDir, logLevel: 'silent' }, [{ file: '(bench)', raw: cluster }]);
  const bridge = Bridge.open(settings, { logger: silentLogger() });
  const token = new TokenStore(bridge.store.tokens).create('bench').token;
  const server = await listen(buildApp(bridge, { logger: silentLogger() }), { host: '127.0.0.1', port: 0 });
  const auth = { authorization: `Bearer ${token}` };
  const rows: BenchRow[] = [];
  const dbPath = join(dataDir, 'hpc-bridge.db');
  try {
    const ok = async (r: Response, want: number) => {
      await r.arrayBuffer();
      if (r.status !== want) throw new Error(`HTTP ${r.status}, expected ${want}`);
    };
    const healthz = () => fetch(`${server.url}/api/v1/healthz`).then((r) => ok(r, 200));
    await load(clients, 100, healthz); // warm up the connection pool

    log(`api: ${creations} creations from ${clients} clients`);
    const body = JSON.stringify({ tasks: [{ cmd: 'true' }], labels: { bench: 'api' } });
    const create = await load(clients, creations, () =>
      fetch(`${server.url}/api/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body }).then((r) => ok(r, 201)),
    );
    const base = await load(clients, creations, healthz);
    rows.push(
      makeRow(`job creations, ${clients} concurrent clients`, create.perSecond, 'jobs/s', `GET /healthz, ${clients} clients`, base.perSecond, `${creations} POST /jobs; each is one SQLite transaction`),
      makeRow(`job creation p95 latency, ${clients} concurrent clients`, pct(create.latencies, 95), 'ms', `GET /healthz p95, ${clients} clients`, pct(base.latencies, 95), 'lower is better'),
    );

    log(`api: inserting ${dbJobs} finished jobs`);
    const sizeBefore = fileSize(dbPath);
    const t0 = performance.now();
    insertJobs(bridge.store, { count: dbJobs, owner: 'bench', cluster: 'here', state: 'completed', eventsPerJob: 8 });
    bridge.store.maintenance.checkpoint();
    log(`api: inserted in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const bytesPer100k = ((fileSize(dbPath) - sizeBefore) / dbJobs) * 100_000;
    const specBytes = Buffer.byteLength(trivialSpecJson()) * 100_000;

    const gets = opts.quick ? 100 : 400;
    const list = await load(clients, gets, () => fetch(`${server.url}/api/v1/jobs?all=true&limit=100`, { headers: auth }).then((r) => ok(r, 200)));
    const listBase = await load(clients, gets, healthz);
    rows.push(
      makeRow(`GET /jobs (newest 100, all states) p95 with ${dbJobs} jobs in the database`, pct(list.latencies, 95), 'ms', `GET /healthz p95, ${clients} clients`, pct(listBase.latencies, 95),
        `${gets} requests from ${clients} clients; ${list.perSecond.toFixed(0)} lists/s; lower is better`),
      makeRow('SQLite file size per 100,000 finished jobs', bytesPer100k / MIB, 'MiB', 'their definitions (JSON) alone', specBytes / MIB, `8 events per job; measured with ${dbJobs} jobs after a WAL checkpoint`),
    );
  } finally {
    await server.close();
    await bridge.close();
  }
  try {
    log('footprint: idle daemon, and with the jobs in the database');
    const emptyDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-idle-'));
    const idle = await runDaemonChild({ dataDir: emptyDir, settleMs: 3000 });
    rmSync(emptyDir, { recursive: true, force: true });
    const full = await runDaemonChild({ dataDir, cluster, settleMs: 3000 });
    const bare = await runDaemonChild({ bare: true, dataDir, settleMs: 500 });
    rows.push(
      makeRow('daemon RSS idle (API listening, one cluster)', idle.rss / MIB, 'MiB', 'bare Node process with the same loader', bare.rss / MIB, ''),
      makeRow(`daemon RSS with ${dbJobs} jobs in the database`, full.rss / MIB, 'MiB', 'bare Node process with the same loader', bare.rss / MIB, 'finished jobs stay on disk: only active ones are loaded'),
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

function fileSize(path: string): number {
  let n = 0;
  for (const p of [path, `${path}-wal`]) {
    try {
      n += statSync(p).size;
    } catch {
      // absent
    }
  }
  return n;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runApiBench({ quick: process.argv.includes('--quick') })));
}
