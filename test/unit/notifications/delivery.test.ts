/**
 * Notifications end to end in one process: a Bridge on the `direct` adapter (real jobs, real
 * files), its delivery worker, and real receivers on the wire: an HTTP server on loopback for
 * webhooks (allowed by daemon.notifications.allowHttpLoopback) and a fake sendmail script that
 * records what it was given. The daemon-restart cases are in webhook-restarts.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { jobView } from '../../../src/api/views.js';
import { Bridge } from '../../../src/bridge.js';
import { BridgeError } from '../../../src/domain/errors.js';
import { createLogger } from '../../../src/logging.js';
import { buildSettings } from '../../../src/settings/load.js';
import { scanText } from '../../security/secretScan.js';
import { eventually, signatureValid, startReceiver, type Receiver } from './receiver.js';

const SECRET = 'a-webhook-secret-of-the-test-0123';
let bridge: Bridge | undefined;
const receivers: Receiver[] = [];
let logText = '';

afterEach(async () => {
  await bridge?.close();
  bridge = undefined;
  for (const r of receivers.splice(0)) await r.close();
});

function open(notifications: Record<string, unknown>, dataDir = mkdtempSync(join(tmpdir(), 'hpcb-notify-'))): Bridge {
  const settings = buildSettings({ dataDir, notifications }, [
    { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 0.2, lostGraceSeconds: 2 } },
  ]);
  const sink = new PassThrough();
  logText = '';
  sink.on('data', (d: Buffer) => (logText += d.toString('utf8')));
  bridge = Bridge.open(settings, { logger: createLogger({ level: 'debug', destination: sink }) });
  bridge.start();
  return bridge;
}

function problemOf(f: () => unknown): { field: string; message: string } {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BridgeError);
    expect((e as BridgeError).code).toBe('INVALID_DEFINITION');
    return ((e as BridgeError).context as { problems: { field: string; message: string }[] }).problems[0]!;
  }
  throw new Error('expected the definition to be refused');
}

const hook = (url: string, extra: Record<string, unknown> = {}) => ({ event: 'jobFinished', type: 'webhook', url, secret: SECRET, ...extra });

describe('notification definitions', () => {
  it('are refused with the field named: unknown fields, wrong events, http without the daemon allowing it, e-mail without sendmail', () => {
    const b = open({ allowHttpLoopback: false, sendmail: '/nonexistent/sendmail' });
    const job = (n: unknown[]) => () => b.submit('alice', { tasks: [{ cmd: 'true' }], notifications: n });
    expect(problemOf(job([hook('https://example.org/h', { retries: 3 })]))).toEqual({ field: 'notifications[0].retries', message: 'unknown field' });
    expect(problemOf(job([hook('https://example.org/h', { event: 'workflowFinished' })])).field).toBe('notifications[0].event');
    expect(problemOf(job([hook('https://example.org/h', { secret: 'short' })]))).toEqual({ field: 'notifications[0].secret', message: 'must be at least 16 characters' });
    expect(problemOf(job([{ event: 'jobFinished', type: 'webhook', url: 'https://example.org/h' }]))).toEqual({ field: 'notifications[0].secret', message: 'is required' });
    expect(problemOf(job([hook('ftp://example.org/h')]))).toEqual({ field: 'notifications[0].url', message: 'must be an https:// URL' });
    expect(problemOf(job([hook('http://127.0.0.1:9/h')])).message).toMatch(/allowHttpLoopback/);
    expect(problemOf(job([{ event: 'jobFinished', type: 'email', to: 'a@b.org\nBcc: x@y.org' }])).field).toBe('notifications[0].to');
    expect(problemOf(job([{ event: 'jobFinished', type: 'email', to: 'alice@example.org' }]))).toEqual({
      field: 'notifications[0].type',
      message: "e-mail needs a sendmail-compatible program and /nonexistent/sendmail is not an executable on the daemon's host (daemon.notifications.sendmail)",
    });
    expect(problemOf(job([{ event: 'jobFinished', type: 'sms' }])).field).toBe('notifications[0].type');
    const wf = (w: Record<string, unknown>) => () => b.submitWorkflow('alice', { jobs: [{ name: 'a', tasks: [{ cmd: 'true' }] }], ...w });
    expect(problemOf(wf({ notifications: [hook('https://example.org/h')] })).field).toBe('notifications[0].event');
    expect(problemOf(() => b.submitWorkflow('alice', { jobs: [{ name: 'a', tasks: [{ cmd: 'true' }], notifications: [hook('https://example.org/h')] }] })).field).toBe('jobs[0].notifications');
  });

  it('plain http is allowed to loopback only, and only where the daemon allows it', () => {
    const b = open({ allowHttpLoopback: true });
    expect(problemOf(() => b.submit('alice', { tasks: [{ cmd: 'true' }], notifications: [hook('http://example.org/h')] })).message).toBe('must be an https:// URL (plain http is never sent off this host)');
    expect(b.submit('alice', { tasks: [{ cmd: 'true' }], notifications: [hook('http://127.0.0.1:9/h'), hook('https://example.org/h')] }).created).toBe(true);
  });
});

describe('webhook delivery', () => {
  it('signs the body, retries a receiver answering 500 with growing delays, and records a permanent failure after the budget; the secret is never shown or logged', async () => {
    const b = open({ allowHttpLoopback: true, retry: { initialDelaySeconds: 0.2, maxDelaySeconds: 0.8, maxAttempts: 4 } });
    const rec = await startReceiver(() => 500);
    receivers.push(rec);
    const { job } = b.submit('alice', { name: 'signed', tasks: [{ cmd: 'exit 3' }], notifications: [hook(rec.url)] });
    await b.wait(job.id, 60_000);
    const row = await eventually(() => b.store.notifications.forJob(job.id).find((n) => n.status === 'failed'));
    expect(row.attempts).toBe(4);
    expect(row.lastError).toBe('HTTP 500 (gave up after 4 attempts)');
    expect(rec.hits).toHaveLength(4);
    // One event, one delivery id, in the header and in the body; every attempt signed anew.
    for (const hit of rec.hits) {
      expect(hit.deliveryId).toBe(row.deliveryId);
      expect(hit.event).toBe('jobFinished');
      expect(signatureValid(SECRET, hit)).toBe(true);
      expect(signatureValid('another-secret-entirely-0000', hit)).toBe(false);
      const body = JSON.parse(hit.body);
      expect(body).toMatchObject({ deliveryId: row.deliveryId, event: 'jobFinished', job: { id: job.id, name: 'signed', status: 'failed', exitCode: 3, cluster: 'here' } });
    }
    // Backoff: each wait at least half of the doubled delay (the jitter's lower bound).
    const gaps = rec.hits.slice(1).map((h, i) => h.at - rec.hits[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(100);
    expect(gaps[1]).toBeGreaterThanOrEqual(200);
    expect(gaps[2]).toBeGreaterThanOrEqual(400);
    // The secret: redacted in the job's view, absent from the outbox and from every log line.
    expect(jobView(b.get(job.id)!).definition.notifications).toEqual([{ ...hook(rec.url), secret: '[redacted]' }]);
    expect(JSON.stringify(b.store.notifications.forJob(job.id))).not.toContain(SECRET);
    expect(logText).toContain('notification failed for good');
    expect(scanText(logText, [SECRET])).toEqual([]);
  });

  it("https: the receiver's certificate is verified, and one from the operator's caFile is trusted", async () => {
    // A self-signed certificate for 127.0.0.1, made for this test.
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    const rec = await startReceiver(() => 200, 0, tls);
    receivers.push(rec);
    expect(rec.url.startsWith('https://')).toBe(true);
    const budget = { retry: { initialDelaySeconds: 0.1, maxDelaySeconds: 0.1, maxAttempts: 1 } };

    // Without the CA the daemon refuses the receiver: it never sends the body to an unverified peer.
    const untrusting = open(budget);
    const first = untrusting.submit('alice', { tasks: [{ cmd: 'true' }], notifications: [hook(rec.url)] }).job;
    await untrusting.wait(first.id, 60_000);
    const refused = await eventually(() => untrusting.store.notifications.forJob(first.id).find((n) => n.status === 'failed'));
    expect(refused.lastError).toMatch(/self-signed certificate/);
    expect(rec.hits).toHaveLength(0);
    await untrusting.close();

    const trusting = open({ ...budget, caFile: join(dir, 'cert.pem') });
    const { job } = trusting.submit('alice', { tasks: [{ cmd: 'true' }], notifications: [hook(rec.url)] });
    await trusting.wait(job.id, 60_000);
    const row = await eventually(() => trusting.store.notifications.forJob(job.id).find((n) => n.status === 'delivered'));
    expect(rec.hits.map((h) => h.deliveryId)).toEqual([row.deliveryId]);
    expect(signatureValid(SECRET, rec.hits[0]!)).toBe(true);
  });

  it('a stopping daemon cuts a POST in flight instead of waiting for the receiver; the restarted one sends it again with the same delivery id', async () => {
    const cfg = { allowHttpLoopback: true, timeoutSeconds: 4, retry: { initialDelaySeconds: 0.2, maxDelaySeconds: 0.4, maxAttempts: 5 } };
    const b = open(cfg);
    const dataDir = b.settings.daemon.dataDir;
    const rec = await startReceiver((_h, n) => (n === 1 ? 'hold' : 200));
    receivers.push(rec);
    const { job } = b.submit('alice', { tasks: [{ cmd: 'true' }], notifications: [hook(rec.url)] });
    await b.wait(job.id, 60_000);
    await rec.waitHits(1);
    await b.close();
    bridge = undefined;
    // Cut, not failed: still pending, the attempt counted, no error recorded against the receiver.
    const reopened = open(cfg, dataDir);
    expect(reopened.store.notifications.forJob(job.id)).toMatchObject([{ status: 'pending', attempts: 1, lastError: null }]);
    const row = await eventually(() => reopened.store.notifications.forJob(job.id).find((n) => n.status === 'delivered'));
    expect(row.attempts).toBe(2);
    expect(rec.hits.map((h) => h.deliveryId)).toEqual([row.deliveryId, row.deliveryId]);
  });

  it('a workflow notifies once, when its last job has ended', async () => {
    const b = open({ allowHttpLoopback: true });
    const rec = await startReceiver(() => 204);
    receivers.push(rec);
    const wf = b.submitWorkflow('alice', {
      name: 'pair',
      jobs: [{ name: 'a', tasks: [{ cmd: 'true' }] }, { name: 'b', tasks: [{ cmd: 'sleep 1' }] }],
      dependencies: { a: ['b'] },
      notifications: [{ event: 'workflowFinished', type: 'webhook', url: rec.url, secret: SECRET }],
    });
    await b.waitWorkflow(wf.id, 60_000);
    const row = await eventually(() => b.store.notifications.forWorkflow(wf.id).find((n) => n.status === 'delivered'));
    expect(b.store.notifications.forWorkflow(wf.id)).toHaveLength(1);
    expect(rec.hits).toHaveLength(1);
    expect(signatureValid(SECRET, rec.hits[0]!)).toBe(true);
    expect(JSON.parse(rec.hits[0]!.body)).toMatchObject({ deliveryId: row.deliveryId, event: 'workflowFinished', workflow: { id: wf.id, name: 'pair', status: 'completed', rerun: 0, jobs: { completed: 2 } } });
  });
});

describe('e-mail delivery', () => {
  it('hands the message to the sendmail program with -t -i', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-sendmail-'));
    const fake = join(dir, 'sendmail');
    // Records its arguments and the whole message it was given, as a real sendmail would queue it.
    writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$*" > "${dir}/args"\ncat > "${dir}/message"\n`);
    chmodSync(fake, 0o755);
    const b = open({ sendmail: fake, from: 'bridge@cluster.example' });
    const { job } = b.submit('alice', { name: 'mailed', tasks: [{ cmd: 'true' }], notifications: [{ event: 'jobFinished', type: 'email', to: 'alice@example.org' }] });
    await b.wait(job.id, 60_000);
    const row = await eventually(() => b.store.notifications.forJob(job.id).find((n) => n.status === 'delivered'));
    expect(row).toMatchObject({ type: 'email', target: 'alice@example.org', attempts: 1 });
    expect(readFileSync(join(dir, 'args'), 'utf8')).toBe('-t -i\n');
    const message = readFileSync(join(dir, 'message'), 'utf8');
    const [head, text] = message.split('\n\n');
    expect(head!.split('\n')).toEqual([
      'From: bridge@cluster.example',
      'To: alice@example.org',
      `Subject: hpc-bridge: job ${job.id} (mailed) completed`,
      'X-Hpcb-Event: jobFinished',
      `X-Hpcb-Delivery: ${row.deliveryId}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
    ]);
    expect(text).toBe(`Job ${job.id} "mailed" on here ended: completed (all tasks exited 0).\nExit code: 0`);
    expect(message).toContain(`"deliveryId":"${row.deliveryId}"`);
  });
});
