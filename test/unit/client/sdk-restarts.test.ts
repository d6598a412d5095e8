/**
 * An SDK script rides through daemon restarts and dropped connections (issue 21). The daemon
 * runs as a child process on the `direct` adapter; while the script is in wait(), following a
 * job's stdout and the event stream, creating jobs in a loop and downloading a large output,
 * the daemon is stopped (SIGTERM, as an upgrade does, or SIGKILL, a crash) and started again
 * on the same port; in the last case a proxy in front of it cuts connections at seeded random
 * moments instead. The script must finish with the right results: every job created exactly
 * once, every download byte-identical to what the job wrote, every log line once and in order,
 * every event once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, Job, Workflow, type JobEventView } from '../../../src/client/index.js';
import { seeded, startProxy, type Proxy } from './support/proxy.js';

const CHILD = join(import.meta.dirname, 'support', 'daemon-child.ts');
const BIG_BYTES = 24 << 20;
const LINES = 40;
const CREATES = 30;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Start the daemon child; resolves once it listens (with the token when one was asked for). */
function startChild(dataDir: string, port: number, token = false): Promise<{ child: ChildProcess; token?: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ dataDir, port, token })], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let t: string | undefined;
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('token ')) t = l.slice(6);
      if (l === 'ready') resolve({ child, ...(t ? { token: t } : {}) });
    });
    child.once('exit', (code, sig) => reject(new Error(`daemon child exited early (${code ?? sig})`)));
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface ScriptResult {
  longStatus: string;
  followed: string;
  created: number[];
  workflowId: number;
  downloads: number;
  events: JobEventView[];
}

/** How far the script has got, so faults can be aimed at the moments that matter. */
interface Progress {
  events: number;
  followed: number;
}

/**
 * What a user's script does. `until` keeps the download loop going while the faults last, so
 * transfers are under way when they strike.
 */
async function script(client: Client, dir: string, until: () => boolean, seen: Progress = { events: 0, followed: 0 }): Promise<ScriptResult> {
  const big = await new Job({ name: 'big', tasks: [{ cmd: `head -c ${BIG_BYTES} /dev/urandom > big.bin && sha256sum big.bin | cut -d' ' -f1 > big.sha` }], outputFiles: ['big.bin', 'big.sha'] }, client).create();
  const long = await new Job({ name: 'long', tasks: [{ cmd: `for i in $(seq 1 ${LINES}); do echo "line $i"; sleep 0.15; done` }] }, client).create();
  const events: JobEventView[] = [];
  const ac = new AbortController();
  const following = (async () => {
    for await (const e of client.events({ lastEventId: 0, signal: ac.signal })) seen.events = events.push(e);
  })();

  const waiting = long.wait();
  const follow = (async () => {
    let text = '';
    for await (const c of long.follow('stdout')) seen.followed = (text += c.text).length;
    return text;
  })();

  const creating = (async () => {
    const ids: number[] = [];
    for (let k = 0; k < CREATES; k++) {
      ids.push((await new Job({ name: `loop-${k}`, tasks: [{ cmd: 'true' }] }, client).create()).id!);
      await sleep(100);
    }
    const wf = await new Workflow({ name: 'wf', jobs: [{ name: 'a', tasks: [{ cmd: 'true' }] }] }, client).create();
    return { ids, workflowId: wf.id! };
  })();

  const downloading = (async () => {
    const done = await big.wait();
    if (done.status !== 'completed') throw new Error(`big job ${done.status}: ${done.statusReason}`);
    const expected = (await big.getOutputText('big.sha')).trim();
    let n = 0;
    do {
      const path = join(dir, `big-${n}.bin`);
      await big.getOutputFile('big.bin', { saveAs: path });
      if (sha(readFileSync(path)) !== expected) throw new Error(`download ${n} to a file differs from what the job wrote`);
      const inMemory = await big.getOutputFile('big.bin');
      if (sha(inMemory) !== expected) throw new Error(`download ${n} into memory differs from what the job wrote`);
      n++;
    } while (!until() || n < 2);
    return n;
  })();

  const [longDone, followed, made, downloads] = await Promise.all([waiting, follow, creating, downloading]);
  const wf = await Workflow.get(made.workflowId, client);
  await wf.wait();
  // Every loop job's terminal event must reach the follower, then it is stopped.
  const ids = new Set(made.ids);
  for (let i = 0; i < 600 && [...ids].some((id) => !events.some((e) => e.jobId === id && e.status === 'completed')); i++) await sleep(100);
  ac.abort();
  await following;
  return { longStatus: longDone.status, followed, created: made.ids, workflowId: made.workflowId, downloads, events };
}

async function check(client: Client, r: ScriptResult): Promise<void> {
  expect(r.longStatus).toBe('completed');
  expect(r.followed).toBe(Array.from({ length: LINES }, (_, i) => `line ${i + 1}\n`).join(''));
  expect(r.downloads).toBeGreaterThanOrEqual(2);
  // Exactly once: one job per loop iteration, and nothing else than what the script made.
  const all = await client.listJobs({ all: true, limit: 1000 });
  const names = all.filter((j) => j.workflowId === null).map((j) => j.name).sort();
  expect(names).toEqual(['big', 'long', ...Array.from({ length: CREATES }, (_, k) => `loop-${k}`)].sort());
  expect(new Set(r.created).size).toBe(CREATES);
  expect((await Workflow.list(client)).map((w) => w.id)).toEqual([r.workflowId]);
  // Events: none twice, in order, and every loop job's completion seen.
  const ids = r.events.map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  for (const id of r.created) expect(r.events.some((e) => e.jobId === id && e.status === 'completed')).toBe(true);
}

describe('the SDK through daemon restarts and dropped connections', { timeout: 180_000 }, () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`finishes a script with the right results while the daemon is restarted with ${signal}`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-sdk-restart-'));
      const port = await freePort();
      const first = await startChild(dataDir, port, true);
      let child = first.child;
      const token = first.token;
      const client = new Client({ url: `http://127.0.0.1:${port}`, token: token!, retryFor: 60 });
      let restarts = 0;
      const faults = (async () => {
        for (const at of [1500, 2500, 2500]) {
          await sleep(at);
          await stop(child, signal);
          await sleep(800);
          ({ child } = await startChild(dataDir, port));
          restarts++;
        }
      })();
      const result = await script(client, dataDir, () => restarts === 3);
      await faults;
      await check(client, result);
      await stop(child, 'SIGTERM');
    });
  }

  it('finishes the same script through a proxy that drops connections at random moments', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-sdk-proxy-'));
    const port = await freePort();
    const { child, token } = await startChild(dataDir, port, true);
    const rng = seeded(Number(process.env.HPCB_PROXY_SEED ?? 21));
    // Downstream: a cut roughly every 4 MB; upstream: about one request in eight. Each kind has
    // its own bound, so the run always ends and the per-request drops (which start at once)
    // cannot use up the cuts meant for the downloads (which start only when the big job ends,
    // late on a loaded machine).
    let nextCut = rng() * (8 << 20);
    let down = 0;
    let upDrops = 0;
    let downDrops = 0;
    const proxy: Proxy = await startProxy({ host: '127.0.0.1', port }, (dir, bytes) => {
      if (dir === 'up') {
        if (upDrops >= 40 || rng() >= 0.12) return false;
        upDrops++;
        return true;
      }
      down += bytes;
      if (down < nextCut || downDrops >= 40) return false;
      nextCut = down + rng() * (8 << 20);
      downDrops++;
      return true;
    });
    const client = new Client({ url: proxy.url, token: token!, retryFor: 60 });
    const seen: Progress = { events: 0, followed: 0 };
    let elapsed = false;
    const timer = setTimeout(() => (elapsed = true), 6000);
    // And every open connection at once, three times: event streams and long-polls are idle
    // most of the time and would rarely meet a per-chunk cut. The first cut waits until events
    // and log text have arrived, so the reconnects must resume from a cursor (on a loaded
    // machine a cut by the clock alone could come before there is anything to resume from).
    const cuts = (async () => {
      for (let i = 0; i < 600 && !(seen.events > 0 && seen.followed > 0); i++) await sleep(100);
      for (let i = 0; i < 3; i++) {
        proxy.cutAll();
        await sleep(500 + rng() * 1500);
      }
    })();
    try {
      const result = await script(client, dataDir, () => elapsed, seen);
      await cuts;
      await check(new Client({ url: `http://127.0.0.1:${port}`, token: token! }), result);
      expect(proxy.drops).toBeGreaterThan(5);
      // The breaks were resumed, not restarted: ranged downloads and event streams picked up
      // after the last id, and creates retried with the key of their first attempt.
      expect(proxy.requests.some((r) => /range: bytes=[1-9]\d*-/.test(r))).toBe(true);
      expect(proxy.requests.some((r) => /^GET \/api\/v1\/events.*last-event-id: [1-9]/.test(r))).toBe(true);
    } finally {
      clearTimeout(timer);
      await proxy.close();
      await stop(child, 'SIGTERM');
    }
  });
});
