/**
 * Webhooks across daemon crashes (issue 19): the daemon runs as a child process on the `direct`
 * adapter and is SIGKILLed twice; receivers are real HTTP servers on loopback. Shown:
 *  - a receiver that is down for 60 s while its job has ended, the daemon killed and restarted
 *    meanwhile: the delivery arrives once after it comes back, and the engine finishes other
 *    jobs all along;
 *  - a daemon killed while its POST is in flight (the receiver got it, the daemon never heard
 *    the answer): after restart the same delivery id is sent again, once, so a receiver that
 *    drops repeated ids sees the event once; the daemon records the second answer;
 *  - a receiver answering 500, then 200: retried with growing delays, recorded as delivered;
 *  - after a recorded success, a restart sends nothing again.
 * The permanent failure after the retry budget is in delivery.test.ts (a smaller budget).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Job, Workflow, type NotificationView } from '../../../src/client/index.js';
import { eventually, signatureValid, startReceiver, type Receiver } from './receiver.js';

const CHILD = join(import.meta.dirname, 'daemon-child.ts');
const CLI = join(import.meta.dirname, '../../../src/cli/main.ts');
const SECRET = 'restart-test-secret-0123456789';
const DOWN_MS = 60_000;
// Short delays so the test moves; enough attempts to outlast a receiver down for 60 s; an
// attempt timeout longer than the test needs to kill the daemon while a POST is held open.
const NOTIFY = { allowHttpLoopback: true, timeoutSeconds: 30, retry: { initialDelaySeconds: 0.5, maxDelaySeconds: 4, maxAttempts: 40 } };

const children: ChildProcess[] = [];
const receivers: Receiver[] = [];
let dataDir: string;
let port: number;
let token: string;
let daemon: ChildProcess;
let client: Client;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

function startDaemon(withToken = false): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ dataDir, port, token: withToken, notifications: NOTIFY })], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  daemon = child;
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('token ')) token = l.slice(6);
      if (l === 'ready') resolve();
    });
    child.once('exit', (code, sig) => reject(new Error(`daemon exited early (${code ?? sig})`)));
  });
}

function kill(): Promise<void> {
  return new Promise((resolve) => {
    if (daemon.exitCode !== null || daemon.signalCode !== null) return resolve();
    daemon.once('exit', () => resolve());
    daemon.kill('SIGKILL');
  });
}

const hook = (url: string) => [{ event: 'jobFinished' as const, type: 'webhook' as const, url, secret: SECRET }];
const only = async (job: Job): Promise<NotificationView> => {
  const list = await job.deliveries();
  expect(list).toHaveLength(1);
  return list[0]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hpcb-notify-restart-'));
  port = await freePort();
  await startDaemon(true);
  client = new Client({ url: `http://127.0.0.1:${port}`, token });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of receivers) await r.close();
});

describe('webhooks across daemon SIGKILLs', () => {
  let downPort: number;
  let hold: Receiver;
  let flaky: Receiver;
  let down: Receiver;
  let wfReceiver: Receiver;
  let jobDown: Job;
  let jobHeld: Job;
  let jobFlaky: Job;
  let wfId: number;

  it('each event is delivered once: a POST in flight at a SIGKILL, a receiver down for 60 s, one answering 500', async () => {
    downPort = await freePort(); // nothing listens there until the 60 s are over
    hold = await startReceiver(() => 'hold');
    flaky = await startReceiver((_h, n) => (n <= 2 ? 500 : 200));
    wfReceiver = await startReceiver(() => 200);
    receivers.push(hold, flaky, wfReceiver);

    jobDown = await new Job({ name: 'to-down', tasks: [{ cmd: 'true' }], notifications: hook(`http://127.0.0.1:${downPort}/hook`) }, client).create();
    jobHeld = await new Job({ name: 'to-hold', tasks: [{ cmd: 'true' }], notifications: hook(hold.url) }, client).create();
    const endedDown = await jobDown.wait();
    expect(endedDown.status).toBe('completed');
    expect((await jobHeld.wait()).status).toBe('completed');
    const downSince = Date.parse(endedDown.endedAt!);

    // The state change is recorded and the delivery is not: attempts fail on the closed port,
    // and the other POST is sitting at its receiver, unanswered.
    const [first] = await hold.waitHits(1);
    const pending = await eventually(async () => {
      const d = await only(jobDown);
      return d.attempts >= 1 && d;
    });
    expect(pending.status).toBe('pending');
    expect(pending.lastError).toMatch(/ECONNREFUSED/);
    expect((await only(jobHeld)).status).toBe('pending');

    await kill();
    // The receiver had processed the request; its answer reaches a dead daemon.
    hold.answer = () => 200;
    hold.held[0]!.writeHead(200).end();
    await startDaemon();

    // Meanwhile the engine keeps finishing jobs, with the first receiver still down.
    jobFlaky = await new Job({ name: 'to-flaky', tasks: [{ cmd: 'true' }], notifications: hook(flaky.url) }, client).create();
    const plain = await Promise.all([1, 2, 3].map((i) => new Job({ name: `plain-${i}`, tasks: [{ cmd: 'true' }] }, client).create()));
    const wf = await new Workflow({ name: 'pair', jobs: [{ name: 'a', tasks: [{ cmd: 'true' }] }, { name: 'b', tasks: [{ cmd: 'true' }] }], notifications: [{ event: 'workflowFinished', type: 'webhook', url: wfReceiver.url, secret: SECRET }] }, client).create();
    for (const j of [jobFlaky, ...plain]) expect((await j.wait()).status).toBe('completed');
    expect((await wf.wait()).status).toBe('completed');
    wfId = wf.id!;
    expect((await only(jobDown)).status).toBe('pending');

    // The POST that was in flight: sent once more after the restart, with the same delivery id.
    const held = await eventually(async () => {
      const d = await only(jobHeld);
      return d.status === 'delivered' && d;
    });
    expect(held.attempts).toBe(2);
    expect(hold.hits.map((h) => h.deliveryId)).toEqual([first!.deliveryId, first!.deliveryId]);
    expect(new Set(hold.hits.map((h) => h.deliveryId)).size).toBe(1);
    for (const h of hold.hits) expect(signatureValid(SECRET, h)).toBe(true);

    // 500, 500, 200: three attempts of one delivery, each wait at least half its doubled delay.
    const flakyDone = await eventually(async () => {
      const d = await only(jobFlaky);
      return d.status === 'delivered' && d;
    });
    expect(flakyDone.attempts).toBe(3);
    expect(new Set(flaky.hits.map((h) => h.deliveryId))).toEqual(new Set([flakyDone.deliveryId]));
    expect(flaky.hits[1]!.at - flaky.hits[0]!.at).toBeGreaterThanOrEqual(250);
    expect(flaky.hits[2]!.at - flaky.hits[1]!.at).toBeGreaterThanOrEqual(500);

    const wfDone = await eventually(async () => {
      const list = await wf.deliveries();
      return list.length === 1 && list[0]!.status === 'delivered' && list[0]!;
    });
    expect(wfReceiver.hits.map((h) => h.deliveryId)).toEqual([wfDone.deliveryId]);
    expect(JSON.parse(wfReceiver.hits[0]!.body)).toMatchObject({ event: 'workflowFinished', workflow: { id: wf.id, status: 'completed', jobs: { completed: 2 } } });

    // The first receiver comes back 60 s after its job ended, on the same port.
    await sleep(Math.max(0, downSince + DOWN_MS - Date.now()));
    expect((await only(jobDown)).status).toBe('pending');
    down = await startReceiver(() => 200, downPort);
    receivers.push(down);
    const downDone = await eventually(async () => {
      const d = await only(jobDown);
      return d.status === 'delivered' && d;
    });
    expect(down.hits.map((h) => h.deliveryId)).toEqual([downDone.deliveryId]);
    expect(signatureValid(SECRET, down.hits[0]!)).toBe(true);
    expect(JSON.parse(down.hits[0]!.body)).toMatchObject({ deliveryId: downDone.deliveryId, event: 'jobFinished', job: { id: jobDown.id, name: 'to-down', status: 'completed' } });
    expect(Date.parse(downDone.deliveredAt!) - downSince).toBeGreaterThanOrEqual(DOWN_MS);
  }, 240_000);

  it('after a recorded success, a restarted daemon sends nothing again', async () => {
    await kill();
    await startDaemon();
    // A new event after the restart: once it is delivered, the worker has been through the
    // outbox, and any earlier row it wrongly thought due (they would be due at once, before
    // this newer one) would have reached its receiver.
    const after = await new Job({ name: 'after-restart', tasks: [{ cmd: 'true' }], notifications: hook(flaky.url) }, client).create();
    await after.wait();
    const done = await eventually(async () => {
      const d = await only(after);
      return d.status === 'delivered' && d;
    });
    expect(done.attempts).toBe(1);
    expect(hold.hits).toHaveLength(2);
    expect(down.hits).toHaveLength(1);
    expect(wfReceiver.hits).toHaveLength(1);
    expect(flaky.hits.map((h) => h.deliveryId)).toEqual([...Array(3).fill((await only(jobFlaky)).deliveryId), done.deliveryId]);
    for (const j of [jobDown, jobHeld, jobFlaky]) expect((await only(j)).status).toBe('delivered');

    // The same from the CLI.
    const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', env: { ...process.env, HPC_BRIDGE_URL: `http://127.0.0.1:${port}`, HPC_BRIDGE_TOKEN: token } });
    const table = cli(['notifications', String(jobFlaky.id)]);
    expect(table.status).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^DELIVERY\s+EVENT\s+TYPE\s+TARGET\s+STATUS\s+ATTEMPTS\s+DELIVERED\s+LAST ERROR/);
    expect(table.stdout).toMatch(new RegExp(`${(await only(jobFlaky)).deliveryId}\\s+jobFinished\\s+webhook\\s+${flaky.url}\\s+delivered\\s+3\\s`));
    const wfList = cli(['notifications', 'workflow', String(wfId), '--json']);
    expect(wfList.status).toBe(0);
    expect(JSON.parse(wfList.stdout)).toMatchObject([{ event: 'workflowFinished', type: 'webhook', target: wfReceiver.url, status: 'delivered', attempts: 1 }]);
  }, 120_000);
});
