/**
 * The key-value store from inside jobs on the real Slurm, reached over SSH, with alice and bob
 * mapped to their own Unix accounts. The test cluster's compute node is this machine, so its
 * jobs reach a daemon listening on 127.0.0.1: cluster `lab` gives its jobs the daemon's URL and
 * a job credential; cluster `lab-relay` (the same Slurm) relays request files instead.
 */
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { listen, type Listening } from '../../src/api/listen.js';
import { TokenStore } from '../../src/auth/tokens.js';
import { Bridge } from '../../src/bridge.js';
import { Client } from '../../src/client/index.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import { buildSettings } from '../../src/settings/load.js';
import { labSettings, onLogin, until } from './support/lab.js';

let lab: ReturnType<typeof labSettings>;
let bridge: Bridge;
let server: Listening;
let alice: Client;
let bob: Client;

beforeAll(async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  lab = labSettings({ identities: true, cluster: { daemonUrlFromJobs: `http://127.0.0.1:${port}` } });
  const relay: Record<string, unknown> = { ...lab.cluster, name: 'lab-relay', scratchRoot: `${String(lab.cluster.scratchRoot)}-relay` };
  delete relay.daemonUrlFromJobs;
  relay.kvRelay = true;
  const users = lab.users as Record<string, { identities: Record<string, unknown> }>;
  for (const u of Object.values(users)) u.identities['lab-relay'] = u.identities.lab;
  const settings = buildSettings({ dataDir: lab.dataDir, logLevel: process.env.HPCB_TEST_LOG ?? 'silent', defaultCluster: 'lab', users }, [
    { file: '(lab)', raw: lab.cluster },
    { file: '(lab-relay)', raw: relay },
  ]);
  bridge = Bridge.open(settings);
  bridge.start();
  const tokens = new TokenStore(bridge.store.tokens);
  server = await listen(buildApp(bridge), { host: '127.0.0.1', port });
  alice = new Client({ url: server.url, token: tokens.create('alice').token });
  bob = new Client({ url: server.url, token: tokens.create('bob').token });
});

afterAll(async () => {
  await server?.close();
  await bridge?.close();
  if (lab) {
    await onLogin(lab.env, `rm -rf ${lab.scratchRoot} ${lab.scratchRoot}-relay`).catch(() => undefined);
    rmSync(lab.dataDir, { recursive: true, force: true });
  }
});

const raw = (path: string, token: string) => fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });

describe('key-value store from Slurm jobs', () => {
  it("a Slurm job sets and gets keys over HTTP with its own credential, sees none of bob's, and the credential dies with the job", async () => {
    await bob.kv.set('slurm/secret', 'bob only');
    const job = await alice.createJob({
      name: 'kv-slurm',
      tasks: [
        {
          cmd: [
            '"$HPCB_KV" set slurm/host "$(hostname) $(id -un)"',
            '"$HPCB_KV" get slurm/host > got.txt',
            '{ "$HPCB_KV" get slurm/secret; echo "bob=$?"; } > bob.txt 2>&1',
            'until "$HPCB_KV" get slurm/go > /dev/null 2>&1; do sleep 0.5; done',
          ].join(' && '),
        },
      ],
      resources: { cpus: 1, memory: 1, walltime: 10 },
      outputFiles: ['got.txt', 'bob.txt'],
    });
    await until('the job to set its key', async () => (await alice.kv.list({ prefix: 'slurm/host' })).length === 1, 180_000, 500);
    const cred = readFileSync(`${jobDirFor(lab.scratchRoot, bridge.store.instanceId(), job.id)}/.hpcb/kv/token`, 'utf8').trim();
    expect((await raw('/kv/slurm/host', cred)).status).toBe(200);
    expect((await raw('/kv/slurm/secret', cred)).status).toBe(404);
    expect((await raw('/jobs', cred)).status).toBe(401);
    await alice.kv.set('slurm/go', '1');
    const done = await alice.waitJob(job.id, 240);
    expect(done.status, `${done.statusReason}`).toBe('completed');
    expect((await alice.downloadOutput(job.id, 'got.txt')).toString()).toMatch(/ hpcuser$/);
    expect((await alice.downloadOutput(job.id, 'bob.txt')).toString()).toBe('hpcb-kv: key "slurm/secret" not found\nbob=1\n');
    expect(await alice.kv.getText('slurm/host')).toMatch(/ hpcuser$/);
    expect((await raw('/kv/slurm/host', cred)).status).toBe(401);
    await alice.kv.deletePrefix('slurm/');
    await bob.kv.deletePrefix('slurm/');
  });

  it('a Slurm job on a relay cluster sets and gets keys through files (latency measured)', async () => {
    const job = await alice.createJob({
      name: 'kv-slurm-relay',
      cluster: 'lab-relay',
      tasks: [
        {
          cmd: [
            'export HPCB_KV_POLL=0.1',
            't0=$(date +%s%N)',
            '"$HPCB_KV" set relay/who "$(id -un)"',
            't1=$(date +%s%N)',
            '"$HPCB_KV" get relay/who > got.txt',
            't2=$(date +%s%N)',
            'echo "$(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 ))" > latency.txt',
          ].join(' && '),
        },
      ],
      resources: { cpus: 1, memory: 1, walltime: 10 },
      outputFiles: ['got.txt', 'latency.txt'],
    });
    const done = await alice.waitJob(job.id, 240);
    expect(done.status, `${done.statusReason}`).toBe('completed');
    expect((await alice.downloadOutput(job.id, 'got.txt')).toString()).toBe('hpcuser');
    expect(await alice.kv.getText('relay/who')).toBe('hpcuser');
    const [setMs, getMs] = (await alice.downloadOutput(job.id, 'latency.txt')).toString().trim().split(' ').map(Number);
    console.log(`relay latency on Slurm over SSH with pollIntervalSeconds 1: set ${setMs} ms, get ${getMs} ms`);
    await alice.kv.deletePrefix('relay/');
  });
});
