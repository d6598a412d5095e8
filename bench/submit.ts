/**
 * Submit throughput: jobs per second from Bridge.submit until every job is known to the
 * scheduler, against, in the same run:
 *   - `sbatch` in a loop on the login node itself (one ssh command running the loop);
 *   - `ssh host sbatch` per job over an OpenSSH ControlMaster connection;
 *   - `ssh host sbatch` per job with a new connection each (fewer jobs: it is slow).
 * Every job is trivial and goes to the `parked` partition (DOWN), so it stays pending and the
 * cluster is not flooded; everything is cancelled at the end. Also the 1-job-array baseline
 * for sweeps comes later (Workflows).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import { buildSettings } from '../src/settings/load.js';
import type { ClusterEnv } from '../test/cluster/env.js';
import { jobCounter, sh } from './common.js';
import { benchTable, type BenchRow } from './transport.js';


const row = (name: string, value: number, unit: string, baseline: string, baselineValue: number, note: string): BenchRow => {
  const r = (x: number) => Math.round(x * 100) / 100;
  return { name, value: r(value), unit, baseline, baselineValue: r(baselineValue), ratio: r(value / baselineValue), note };
};

export async function runSubmitBench(env: ClusterEnv, opts: { jobs?: number; freshJobs?: number; quick?: boolean; log?: (s: string) => void } = {}): Promise<BenchRow[]> {
  const n = opts.jobs ?? (opts.quick ? 100 : 500);
  const fresh = opts.freshJobs ?? (opts.quick ? 5 : 20);
  const log = opts.log ?? ((s: string) => console.error(s));
  const ssh = ['-F', env.sshConfig];
  const local = mkdtempSync(join(tmpdir(), 'hpcb-bench-submit-'));
  const muxed = [...ssh, '-o', 'ControlMaster=auto', '-o', `ControlPath=${join(local, 'cm')}`, '-o', 'ControlPersist=60'];
  const sbatchArgs = 'sbatch --parsable -p parked --job-name=hpcb-bench --wrap true';
  const cancelAll = () => sh('ssh', [...ssh, env.sshAlias, `scancel --user=${env.user} --partition=parked`]).catch(() => '');

  try {
    await cancelAll();
    // 1. sbatch loop on the login node itself.
    // Run before and after the bridge (the mean is the baseline): the machine's load drifts.
    const sbatchLoop = async (): Promise<number> => {
      log(`submit: ${n} x sbatch in a loop on the login node`);
      const s = performance.now();
      await sh('ssh', [...ssh, env.sshAlias, `for i in $(seq ${n}); do ${sbatchArgs} >/dev/null || exit 1; done`]);
      const rate = n / ((performance.now() - s) / 1000);
      await cancelAll();
      return rate;
    };
    const loopBefore = await sbatchLoop();
    let t0 = performance.now();

    // 2. ssh per job over a ControlMaster.
    log(`submit: ${n} x ssh sbatch over ControlMaster`);
    await sh('ssh', [...muxed, env.sshAlias, 'true']);
    t0 = performance.now();
    for (let i = 0; i < n; i++) await sh('ssh', [...muxed, env.sshAlias, sbatchArgs]);
    const muxRate = n / ((performance.now() - t0) / 1000);
    await sh('ssh', [...muxed, '-O', 'exit', env.sshAlias]).catch(() => '');
    await cancelAll();

    // 3. ssh per job, new connection each.
    log(`submit: ${fresh} x ssh sbatch, new connection each`);
    t0 = performance.now();
    for (let i = 0; i < fresh; i++) await sh('ssh', [...ssh, env.sshAlias, sbatchArgs]);
    const freshRate = fresh / ((performance.now() - t0) / 1000);
    await cancelAll();

    // 4. The bridge: from submit() until every job has its scheduler id (through the submit
    // program, then through slurmrestd over a forwarded stream of the same SSH connection).
    const runBridge = async (adapter: Record<string, unknown> | undefined, root: string): Promise<{ rate: number; stagedMs: number; counters: { submitCommands: number; restSubmits: number; jobsSubmitted: number } }> => {
      const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-bridge-'));
      const settings = buildSettings({ dataDir, logLevel: 'silent' }, [
        {
          file: '(bench)',
          raw: {
            name: 'lab',
            scheduler: 'slurm',
            transport: 'ssh',
            ssh: { host: env.host, port: env.port, user: env.user, privateKey: env.privateKey, knownHosts: env.knownHosts },
            scratchRoot: root,
            sharedAccount: true,
            pollIntervalSeconds: 2,
            submitBatchSize: 100,
            submitRatePerSecond: 10000,
            ...(adapter ? { adapter } : {}),
          },
        },
      ]);
      const bridge = Bridge.open(settings, { logger: silentLogger() });
      bridge.start();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) bridge.submit('bench', { tasks: [{ cmd: 'true' }], queue: 'parked' });
      let stagedMs = 0;
      await new Promise<void>((resolve) => {
        const { count, close } = jobCounter(bridge.store);
        const check = () => {
          if (!stagedMs && count("SELECT COUNT(*) AS n FROM jobs WHERE state IN ('accepted', 'staging_in')") === 0) stagedMs = performance.now() - t0;
          if (count("SELECT COUNT(*) AS n FROM jobs WHERE native_id IS NULL AND state NOT IN ('failed', 'deleted')") === 0) {
            close();
            resolve();
          } else setTimeout(check, 20);
        };
        check();
      });
      const rate = n / ((performance.now() - t0) / 1000);
      const counters = { ...bridge.reconciler('lab')!.counters };
      await bridge.close();
      await cancelAll();
      return { rate, stagedMs, counters };
    };
    log(`submit: ${n} jobs through the bridge`);
    const scratchRoot = `${env.scratchRoot}/bench-${Date.now()}`;
    const viaProgram = await runBridge(undefined, scratchRoot);
    const bridgeRate = viaProgram.rate;
    const stagedMs = viaProgram.stagedMs;
    const counters = viaProgram.counters;
    let viaRest: Awaited<ReturnType<typeof runBridge>> | undefined;
    let restDirect = 0;
    if (env.slurmrestdSocket) {
      log(`submit: ${n} jobs through the bridge via slurmrestd`);
      const restRoot = `${env.scratchRoot}/bench-rest-${Date.now()}`;
      viaRest = await runBridge({ slurmrestd: { socket: env.slurmrestdSocket } }, restRoot);
      await sh('ssh', [...ssh, env.sshAlias, `rm -rf ${restRoot}`]).catch(() => '');
      // The same daemon called on the login node itself: one keep-alive connection, a trivial
      // job per request, as the bridge's requests (a client there pays no SSH hop).
      log(`submit: ${n} jobs to slurmrestd directly on the login node`);
      restDirect = Number((await sh('ssh', [...ssh, env.sshAlias, `python3 - ${env.slurmrestdSocket} ${n} ${env.scratchRoot}`], REST_LOOP)).trim());
      await cancelAll();
    }
    // The same scripts the bridge rendered, submitted by a plain loop: what sbatch itself costs
    // for them (their directives make sbatch slower than for a --wrap one-liner).
    log(`submit: ${n} x sbatch of the bridge's own scripts in a loop on the login node`);
    const s0 = performance.now();
    await sh('ssh', [...ssh, env.sshAlias, `for d in ${scratchRoot}/jobs/*/; do sbatch --parsable -- "$d.hpcb/job.sh" >/dev/null || exit 1; done`]);
    const sameScriptRate = n / ((performance.now() - s0) / 1000);
    await cancelAll();
    await sh('ssh', [...ssh, env.sshAlias, `rm -rf ${scratchRoot}`]).catch(() => '');
    const loopAfter = await sbatchLoop();
    const loopRate = (loopBefore + loopAfter) / 2;

    return [
      row(`submit ${n} jobs until all are in the scheduler`, bridgeRate, 'jobs/s', 'sbatch loop on the login node', loopRate,
        `loop ${loopBefore.toFixed(1)} before, ${loopAfter.toFixed(1)} after; ${counters.submitCommands} submit commands for ${n} jobs; stage-in (directories and scripts) done after ${(stagedMs / 1000).toFixed(1)} s of ${(n / bridgeRate).toFixed(1)} s`),
      row(`submit ${n} jobs until all are in the scheduler`, bridgeRate, 'jobs/s', "sbatch loop on the login node, the bridge's own scripts", sameScriptRate, 'the same rendered job.sh files, submitted by a plain loop after the bridge run'),
      row(`submit ${n} jobs until all are in the scheduler`, bridgeRate, 'jobs/s', 'ssh sbatch per job, ControlMaster', muxRate, ''),
      row(`submit ${n} jobs until all are in the scheduler`, bridgeRate, 'jobs/s', `ssh sbatch per job, new connection (${fresh} jobs)`, freshRate, ''),
      ...(viaRest
        ? [
            row(`submit ${n} jobs through slurmrestd until all are in the scheduler`, viaRest.rate, 'jobs/s', 'slurmrestd called directly on the login node (one keep-alive connection, sequential)', restDirect,
              `${viaRest.counters.restSubmits} REST submissions (${viaRest.counters.jobsSubmitted} answers read), ${viaRest.counters.submitCommands} submit programs; 4 forwarded streams of the SSH connection per batch, each carrying one request after another; stage-in (directories and scripts) done after ${(viaRest.stagedMs / 1000).toFixed(1)} s of ${(n / viaRest.rate).toFixed(1)} s`),
            row(`submit ${n} jobs through slurmrestd until all are in the scheduler`, viaRest.rate, 'jobs/s', 'sbatch loop on the login node', loopRate, ''),
          ]
        : []),
    ];
  } finally {
    await cancelAll();
  }
}

/** Sequential submissions over one keep-alive connection to the socket; prints jobs/s. */
const REST_LOOP = `
import http.client, json, socket, sys, time
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
n = int(sys.argv[2])
body = json.dumps({"job": {"name": "hpcb-bench-rest", "partition": "parked", "current_working_directory": sys.argv[3], "environment": {"PATH": "/usr/bin:/bin"}}, "script": "#!/bin/bash\\ntrue\\n"})
c = Conn("localhost")
t = time.time()
for i in range(n):
    c.request("POST", "/slurm/v0.0.38/job/submit", body, {"Content-Type": "application/json"})
    r = c.getresponse(); d = json.loads(r.read())
    if not d.get("job_id"): sys.exit("submit failed: %s" % d.get("errors"))
print(n / (time.time() - t))
`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { loadClusterEnv } = await import('../test/cluster/env.js');
  console.log(benchTable(await runSubmitBench(loadClusterEnv(), { quick: process.argv.includes('--quick') })));
}
