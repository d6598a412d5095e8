/**
 * The key-value store from inside running jobs on the direct adapter: a cluster whose jobs
 * reach the daemon (daemonUrlFromJobs: a job credential over HTTP) and one that relays request
 * files. Jobs set and get keys with the `$HPCB_KV` helper; the credential works only on the kv
 * routes, only for its owner's keys, only while the job runs, and appears in no log, command
 * line or rendered script.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { listen, type Listening } from '../../src/api/listen.js';
import { TokenStore } from '../../src/auth/tokens.js';
import { Bridge } from '../../src/bridge.js';
import { Client } from '../../src/client/index.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import { createLogger } from '../../src/logging.js';
import { buildSettings } from '../../src/settings/load.js';

let bridge: Bridge;
let server: Listening;
let alice: Client;
let bob: Client;
let aliceToken: string;
let dataDir: string;
const logs: string[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hpcb-kvjobs-'));
  const port = await freePort();
  const cluster = (name: string, extra: object) => ({ file: `(${name})`, raw: { name, scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, name), pollIntervalSeconds: 0.2, ...extra } });
  const settings = buildSettings({ dataDir, logLevel: 'info', defaultCluster: 'http', kv: { maxValueBytes: 1000 } }, [
    cluster('http', { daemonUrlFromJobs: `http://127.0.0.1:${port}` }),
    cluster('relay', { kvRelay: true }),
  ]);
  const logger = createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) }) });
  bridge = Bridge.open(settings, { logger });
  bridge.start();
  const tokens = new TokenStore(bridge.store.tokens);
  aliceToken = tokens.create('alice').token;
  const app = buildApp(bridge, { logger });
  server = await listen(app, { host: '127.0.0.1', port });
  alice = new Client({ url: server.url, token: aliceToken });
  bob = new Client({ url: server.url, token: tokens.create('bob').token });
});
afterAll(async () => {
  await server?.close();
  await bridge?.close();
});

const raw = (path: string, token: string) => fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
const tokenFileOf = (cluster: string, id: number) => join(jobDirFor(join(dataDir, cluster), bridge.store.instanceId(), id), '.hpcb/kv/token');
const until = async (what: string, ok: () => Promise<boolean>) => {
  for (let i = 0; i < 600; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
};

describe('key-value store from inside jobs', () => {
  it('direct HTTP: a job sets and gets keys with its own credential, which opens nothing else and dies with the job', async () => {
    await bob.kv.set('bob/secret', 'not for alice');
    // A curl first on PATH that records its arguments: the credential must never be one.
    const shim = '#!/bin/sh\nprintf \'%s\\n\' "$*" >> "$HPCB_JOB_DIR/curl-argv.txt"\nexec /usr/bin/curl "$@"\n';
    const job = await alice.createJob({
      name: 'kv-http',
      tasks: [
        {
          cmd: [
            'export PATH="$PWD/shim:$PATH"',
            '"$HPCB_KV" set job/result "42 from the job"',
            '"$HPCB_KV" get job/result > got.txt',
            '"$HPCB_KV" list job/ > list.txt',
            '"$HPCB_KV" get bob/secret > bob.txt 2> bob.err; echo "bob=$?" > codes.txt',
            '"$HPCB_KV" set job/ready yes',
            'until "$HPCB_KV" get job/go > /dev/null 2>&1; do sleep 0.2; done',
            'printf "%s" "$(cat got.txt)" | "$HPCB_KV" set job/stdin',
            '"$HPCB_KV" delete job/go',
            'env | grep ^HPCB_KV > env.txt',
          ].join(' && '),
        },
      ],
      inputs: [{ filename: 'shim/curl', content: Buffer.from(shim).toString('base64'), executable: true }],
      outputFiles: ['got.txt', 'list.txt', 'bob.txt', 'bob.err', 'codes.txt', 'curl-argv.txt', 'env.txt'],
    });
    await until('the job to be ready', async () => (await alice.kv.list({ prefix: 'job/ready' })).length === 1);

    // While it runs: its credential reads its owner's keys, and nothing else.
    const cred = readFileSync(tokenFileOf('http', job.id), 'utf8').trim();
    expect(cred).toMatch(/^hpcbj_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(await (await raw('/kv/job/result', cred)).text()).toBe('42 from the job');
    expect((await raw('/kv/bob/secret', cred)).status).toBe(404);
    const jobs = await raw('/jobs', cred);
    expect(jobs.status).toBe(401);
    expect(((await jobs.json()) as { error: { message: string } }).error.message).toBe("a job's key-value credential is accepted only by the /kv routes");
    expect((await raw(`/jobs/${job.id}`, cred)).status).toBe(401);
    expect((await raw('/artifacts', cred)).status).toBe(401);
    // Stored hashed: the database file does not hold it.
    expect(readFileSync(join(dataDir, 'hpc-bridge.db')).includes(Buffer.from(cred))).toBe(false);

    await alice.kv.set('job/go', '1');
    const done = await alice.waitJob(job.id, 120);
    expect(done.status).toBe('completed');
    const out = async (name: string) => (await alice.downloadOutput(job.id, name)).toString();
    expect(await out('got.txt')).toBe('42 from the job');
    expect(await out('list.txt')).toBe('job/result\n');
    expect(await out('codes.txt')).toBe('bob=1\n');
    expect(await out('bob.txt')).toBe('');
    expect(await out('bob.err')).toContain('key "bob/secret" not found');
    expect(await alice.kv.getText('job/stdin')).toBe('42 from the job');
    await expect(alice.kv.get('job/go')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const argv = await out('curl-argv.txt');
    expect(argv).toContain('-K /dev/fd/');
    expect(argv).not.toContain(cred);
    expect(argv).not.toContain('hpcbj_');
    const env = await out('env.txt');
    expect(env).toContain('HPCB_KV_URL=http://127.0.0.1:');
    expect(env).toContain('HPCB_KV_TOKEN_FILE=');
    expect(env).not.toContain('hpcbj_');

    // After the job: refused, with the reason.
    const after = await raw('/kv/job/result', cred);
    expect(after.status).toBe(401);
    expect(((await after.json()) as { error: { message: string } }).error.message).toContain('its job has ended');
    // Not in the daemon's log, the batch script, or the render preview.
    expect(logs.join('')).not.toContain(cred);
    const script = readFileSync(join(jobDirFor(join(dataDir, 'http'), bridge.store.instanceId(), job.id), '.hpcb/job.sh'), 'utf8');
    expect(script).toContain('HPCB_KV_TOKEN_FILE=');
    expect(script).not.toContain('hpcbj_');
    const preview = await alice.renderJob({ tasks: [{ cmd: '"$HPCB_KV" get x' }] });
    expect(preview.script).toContain('export HPCB_KV=');
    expect(preview.script).not.toContain('hpcbj_');
    await alice.kv.deletePrefix('job/');
    await bob.kv.delete('bob/secret');
  });

  it('relay: a job on a cluster that cannot reach the daemon sets, gets, lists and deletes through files, with limits; latency measured', async () => {
    await bob.kv.set('relay/bob', 'bob only');
    const job = await alice.createJob({
      name: 'kv-relay',
      cluster: 'relay',
      tasks: [
        {
          cmd: [
            'export HPCB_KV_POLL=0.05',
            't0=$(date +%s%N)',
            '"$HPCB_KV" set relay/x "relayed value"',
            't1=$(date +%s%N)',
            '"$HPCB_KV" get relay/x > got.txt',
            't2=$(date +%s%N)',
            'echo "$(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 ))" > latency.txt',
            'head -c 1001 /dev/zero | "$HPCB_KV" set relay/big 2> big.err; echo "big=$?" > codes.txt',
            '"$HPCB_KV" get relay/bob 2> bob.err; echo "bob=$?" >> codes.txt',
            '"$HPCB_KV" set relay/y 2 && "$HPCB_KV" list relay/ > list.txt',
            '"$HPCB_KV" delete relay/y',
            '"$HPCB_KV" set "bad key" v 2> badkey.err; echo "badkey=$?" >> codes.txt',
            '"$HPCB_KV" set relay/last "written as the job ends"',
            'test ! -e "$HPCB_KV_DIR/token" && test -z "${HPCB_KV_URL:-}"',
          ].join(' && '),
        },
      ],
      outputFiles: ['got.txt', 'latency.txt', 'codes.txt', 'big.err', 'bob.err', 'list.txt', 'badkey.err'],
    });
    const done = await alice.waitJob(job.id, 120);
    expect(done.status).toBe('completed');
    const out = async (name: string) => (await alice.downloadOutput(job.id, name)).toString();
    expect(await out('got.txt')).toBe('relayed value');
    expect(await out('codes.txt')).toBe('big=3\nbob=1\nbadkey=2\n');
    expect(await out('big.err')).toContain('value of 1001 bytes is larger than the limit of 1000 (daemon.kv.maxValueBytes)');
    expect(await out('bob.err')).toContain('key "relay/bob" not found');
    expect(await out('list.txt')).toBe('relay/x\nrelay/y\n');
    expect(await alice.kv.getText('relay/last')).toBe('written as the job ends');
    await expect(alice.kv.get('relay/y')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await bob.kv.getText('relay/bob')).toBe('bob only');
    // No credential exists for a relay job, and its requests were all answered and removed.
    expect(bridge.store.kv.tokensOfJob(job.id)).toEqual([]);
    const dir = jobDirFor(join(dataDir, 'relay'), bridge.store.instanceId(), job.id);
    expect(existsSync(join(dir, '.hpcb/kv/token'))).toBe(false);
    const [setMs, getMs] = (await out('latency.txt')).trim().split(' ').map(Number);
    // Measured, not asserted: docs/ARCHITECTURE.md reports the figures (poll interval 0.2 s here).
    console.log(`relay latency on direct with pollIntervalSeconds 0.2: set ${setMs} ms, get ${getMs} ms`);
    expect(logs.some((l) => l.includes('key-value requests relayed'))).toBe(true);
    await alice.kv.deletePrefix('relay/');
    await bob.kv.deletePrefix('relay/');
  });

  it('a credential from stage-in is refused for a job that never ran (cancelled), and is revoked at stage-out', async () => {
    const job = await alice.createJob({ name: 'kv-cancel', tasks: [{ cmd: '"$HPCB_KV" set c/started 1 && sleep 60' }] });
    await until('the job to start', async () => (await alice.kv.list({ prefix: 'c/' })).length === 1);
    const cred = readFileSync(tokenFileOf('http', job.id), 'utf8').trim();
    expect((await raw('/kv/c/started', cred)).status).toBe(200);
    await alice.deleteJob(job.id);
    expect((await alice.waitJob(job.id, 120)).status).toBe('deleted');
    expect((await raw('/kv/c/started', cred)).status).toBe(401);
    expect(bridge.store.kv.tokensOfJob(job.id).every((t) => t.revokedAt !== null)).toBe(true);
    await alice.kv.deletePrefix('c/');
  });
});
