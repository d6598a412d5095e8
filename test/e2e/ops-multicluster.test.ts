/**
 * One daemon, three clusters: the test Slurm over SSH, a `direct` cluster on this machine, and a
 * Slurm cluster whose login node cannot be reached (127.0.0.1 on a port nothing listens on).
 * The shared test cluster is never touched: the unreachable one is a config of its own.
 *
 * Jobs on the two healthy clusters complete; the unreachable cluster's job stays pending and
 * nothing else is held up by it; /healthz, /clusters and /metrics all say which one is down.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSettings } from '../../src/settings/load.js';
import { call, startDaemon, type Daemon } from '../api/helpers.js';
import { parsePrometheusText } from '../unit/ops/promParser.js';
import { labSettings, onLogin, until } from './support/lab.js';

/** A port that was free a moment ago and is now closed: connections to it are refused. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

let d: Daemon | undefined;
const lab = labSettings({ clusterName: 'lab' });
afterAll(async () => {
  await d?.close();
  await onLogin(lab.env, `rm -rf '${lab.scratchRoot}'`).catch(() => undefined);
});

describe('several clusters, one unreachable', () => {
  it('runs jobs on the healthy clusters while the unreachable one only holds its own jobs', async () => {
    const env = lab.env;
    const port = await closedPort();
    const settings = buildSettings({ dataDir: lab.dataDir, defaultCluster: 'here', logLevel: 'info' }, [
      { file: 'lab.yaml', raw: { ...lab.settings.clusters[0], name: 'lab' } },
      { file: 'here.yaml', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(lab.dataDir, 'scratch'), pollIntervalSeconds: 0.5 } },
      {
        file: 'down.yaml',
        raw: {
          name: 'down',
          scheduler: 'slurm',
          transport: 'ssh',
          ssh: { host: '127.0.0.1', port, user: env.user, privateKey: env.privateKey, knownHosts: env.knownHosts },
          scratchRoot: '/nonexistent/hpcb',
          sharedAccount: true,
          pollIntervalSeconds: 0.5,
        },
      },
    ]);
    d = await startDaemon({ settings });

    const down = await d.alice.createJob({ cluster: 'down', tasks: [{ cmd: 'echo never' }] });
    const onLab = await d.alice.createJob({ cluster: 'lab', tasks: [{ cmd: 'echo from-slurm' }] });
    const onHere = await d.alice.createJob({ tasks: [{ cmd: 'echo from-direct' }] });

    // The unreachable cluster is found out by its own reconciler...
    await until('the down cluster to be marked degraded', async () => (await call(d!, 'GET', '/healthz', { token: null })).json.clusters.find((c: { name: string; state: string }) => c.name === 'down' && c.state === 'degraded'), 120_000);

    // ...while jobs elsewhere run to completion.
    const [labDone, hereDone] = await Promise.all([d.alice.waitJob(onLab.id, 240), d.alice.waitJob(onHere.id, 60)]);
    expect(labDone.status).toBe('completed');
    expect(hereDone.status).toBe('completed');
    expect((await d.alice.readLog(onLab.id, 'stdout')).data.toString()).toBe('from-slurm\n');
    expect((await d.alice.readLog(onHere.id, 'stdout')).data.toString()).toBe('from-direct\n');

    // The job on the unreachable cluster waits, neither failed nor submitted.
    const stuck = await d.alice.getJob(down.id);
    expect(stuck.status).toBe('pending');
    expect(stuck.nativeId).toBeNull();

    const health = await call(d, 'GET', '/healthz', { token: null });
    expect(health.json.status).toBe('degraded');
    const byName = Object.fromEntries((health.json.clusters as { name: string; reachable: boolean | null; lastError: string | null }[]).map((c) => [c.name, c]));
    expect(byName.lab).toMatchObject({ reachable: true });
    expect(byName.here).toMatchObject({ reachable: true });
    expect(byName.down).toMatchObject({ reachable: false });
    expect(byName.down!.lastError).toBeTruthy();

    // `hpc-bridge clusters` reads this endpoint.
    const clusters = await d.alice.clusters();
    expect(clusters.find((c) => c.name === 'down')).toMatchObject({ reachable: false, scheduler: 'slurm' });

    const metrics = parsePrometheusText((await call(d, 'GET', '/metrics', { token: null })).text);
    const up = (c: string) => metrics.get('hpcb_cluster_up')!.samples.find((s) => s.labels.cluster === c)?.value;
    expect([up('lab'), up('here'), up('down')]).toEqual([1, 1, 0]);
    expect(metrics.get('hpcb_ssh_connected')!.samples.find((s) => s.labels.cluster === 'lab')?.value).toBe(1);
    expect(metrics.get('hpcb_jobs')!.samples.find((s) => s.labels.cluster === 'down' && s.labels.status === 'pending')?.value).toBe(1);
  });
});

describe('config check against the test Slurm', () => {
  it('logs in with the host key checked, finds the Slurm commands and writes scratch', async () => {
    const { checkCluster } = await import('../../src/ops/check.js');
    const steps = await checkCluster(lab.settings.clusters[0]!);
    expect(steps.map((s) => [s.check, s.ok])).toEqual([
      ['login', true],
      ['scheduler', true],
      ['scratch', true],
    ]);
    expect(steps[0]!.detail).toContain(`as ${lab.env.user}`);
    expect(steps[0]!.detail).toContain('host key matched');
    expect(steps[1]!.detail).toContain('sbatch');
  });
});
