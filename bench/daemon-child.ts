/**
 * A daemon in its own process, for the footprint rows: opens the Bridge on the given data
 * directory and database, starts the reconcilers and the HTTP API, lets it run, then prints
 * one JSON line with its resident set size and CPU time. With `--bare` it only reports the
 * RSS of a Node process with the same loader, the baseline the daemon's RSS is compared to.
 *
 *   node --expose-gc --import tsx bench/daemon-child.ts '<json>'
 *   json: {"bare"?: true, "dataDir", "dbPath"?, "cluster"?: <raw cluster config>, "settleMs"}
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

interface ChildArgs {
  bare?: boolean;
  dataDir: string;
  dbPath?: string;
  cluster?: Record<string, unknown>;
  settleMs: number;
}

function rssBytes(): number {
  // VmRSS from the kernel, the same figure `ps` shows.
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const gc = (globalThis as { gc?: () => void }).gc;
if (args.bare) {
  await new Promise((r) => setTimeout(r, args.settleMs));
  gc?.();
  console.log(JSON.stringify({ rss: rssBytes() }));
} else {
  const { Bridge } = await import('../src/bridge.js');
  const { buildApp } = await import('../src/api/app.js');
  const { listen } = await import('../src/api/listen.js');
  const { silentLogger } = await import('../src/logging.js');
  const { buildSettings } = await import('../src/settings/load.js');
  const cluster = args.cluster ?? { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: `${args.dataDir}/scratch`, pollIntervalSeconds: 5 };
  const settings = buildSettings({ dataDir: args.dataDir, logLevel: 'silent' }, [{ file: '(bench)', raw: cluster }]);
  const bridge = Bridge.open(settings, { logger: silentLogger(), ...(args.dbPath ? { dbPath: args.dbPath } : {}) });
  const server = await listen(buildApp(bridge, { logger: silentLogger() }), { host: '127.0.0.1', port: 0 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  bridge.start();
  await new Promise((r) => setTimeout(r, args.settleMs));
  const rec = bridge.reconciler(String(cluster.name))!;
  gc?.();
  const cpu = process.cpuUsage(cpu0);
  const active = bridge.store.activeOnCluster(String(cluster.name)).length;
  console.log(JSON.stringify({ rss: rssBytes(), heapUsed: process.memoryUsage().heapUsed, cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - t0, polls: rec.counters.polls, active }));
  await server.close();
  await bridge.close();
}
