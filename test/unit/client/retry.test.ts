/**
 * The SDK's retry rules one at a time (the restart test runs them all together): a create whose
 * answer is lost is sent again with the same key and makes one job; a download cut in the
 * middle continues with a Range request; errors retrying cannot fix are thrown at once; an
 * unreachable daemon is given up on after `retryFor`, with an error that says so.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, HpcBridgeError, Job } from '../../../src/client/index.js';
import { startDaemon, type Daemon } from '../../api/helpers.js';
import { startProxy, type Proxy } from './support/proxy.js';

let d: Daemon | undefined;
let proxy: Proxy | undefined;
afterEach(async () => {
  await proxy?.close();
  await d?.close();
  d = proxy = undefined;
});

describe('SDK retries', { timeout: 60_000 }, () => {
  it('a create whose answer is lost is retried with the same key and makes exactly one job', async () => {
    d = await startDaemon({ start: false });
    let cut = false;
    proxy = await startProxy({ host: '127.0.0.1', port: Number(new URL(d.url).port) }, (dir) => {
      if (dir !== 'down' || cut || !proxy!.requests.some((r) => r.startsWith('POST /api/v1/jobs'))) return false;
      cut = true;
      return true;
    });
    const client = new Client({ url: proxy.url, token: d.tokens.alice, initialDelayMs: 10 });
    const job = await new Job({ name: 'once', tasks: [{ cmd: 'true' }] }, client).create();
    const posts = proxy.requests.filter((r) => r.startsWith('POST /api/v1/jobs'));
    expect(posts).toHaveLength(2);
    const keys = posts.map((p) => /idempotency-key: (\S+)/.exec(p)?.[1]);
    expect(keys[0]).toBeDefined();
    expect(keys[1]).toBe(keys[0]);
    const all = await d.alice.listJobs({ all: true });
    expect(all.map((j) => j.id)).toEqual([job.id]);
  });

  it('a download cut in the middle resumes with Range and arrives byte-identical', async () => {
    d = await startDaemon();
    const job = await new Job({ tasks: [{ cmd: 'head -c 5000000 /dev/urandom > r.bin' }], outputFiles: ['r.bin'] }, d.alice).create();
    expect((await job.wait({ timeout: 60 })).status).toBe('completed');
    const listed = (await job.listOutputs()).outputs[0]!;
    let down = 0;
    let cuts = 0;
    proxy = await startProxy({ host: '127.0.0.1', port: Number(new URL(d.url).port) }, (dir, bytes) => {
      if (dir !== 'down') return false;
      down += bytes;
      if (cuts < 2 && down > (cuts + 1) * 1_500_000) {
        cuts++;
        return true;
      }
      return false;
    });
    const client = new Client({ url: proxy.url, token: d.tokens.alice, initialDelayMs: 10 });
    const data = await client.downloadOutput(job.id!, 'r.bin');
    expect(cuts).toBe(2);
    expect(data.length).toBe(listed.size);
    expect(createHash('sha256').update(data).digest('hex')).toBe(listed.sha256);
    expect(proxy.requests.filter((r) => /range: bytes=[1-9]/.test(r)).length).toBeGreaterThanOrEqual(2);
  });

  it('a resumed download the server answers whole starts the file over, and the file is byte-identical', async () => {
    // A proxy or server that ignores Range answers 200 with every byte: what was written so far
    // must be replaced, not written past (a file handle's position does not follow a truncate).
    const body = randomBytes(3_000_000);
    const sum = createHash('sha256').update(body).digest('hex');
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      res.writeHead(200, { 'content-length': body.length, 'x-checksum-sha256': sum, 'content-type': 'application/octet-stream' });
      if (requests === 1) res.write(body.subarray(0, 1_000_000), () => res.destroy());
      else res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const client = new Client({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, token: 'x', initialDelayMs: 10 });
      const path = join(mkdtempSync(join(tmpdir(), 'hpcb-restart-')), 'out.bin');
      await client.downloadOutputTo(1, 'out.bin', path);
      expect(requests).toBe(2);
      const got = readFileSync(path);
      expect(got.length).toBe(body.length);
      expect(createHash('sha256').update(got).digest('hex')).toBe(sum);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('throws at once what retrying cannot fix', async () => {
    d = await startDaemon({ start: false });
    const t0 = Date.now();
    const err = await d.alice.createJob({ tasks: [{ cmd: 'true' }], resources: { cpus: -1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HpcBridgeError);
    expect((err as HpcBridgeError).code).toBe('INVALID_DEFINITION');
    expect((err as HpcBridgeError).attempts).toBe(1);
    const missing = await d.alice.getJob(999).catch((e: unknown) => e);
    expect((missing as HpcBridgeError).code).toBe('NOT_FOUND');
    expect((missing as HpcBridgeError).attempts).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('gives up on an unreachable daemon after retryFor, saying so', async () => {
    d = await startDaemon({ start: false });
    const url = d.url;
    await d.close();
    d = undefined;
    const client = new Client({ url, token: 'x', retryFor: 1, initialDelayMs: 50, maxDelayMs: 200 });
    const err = (await client.getJob(1).catch((e: unknown) => e)) as HpcBridgeError;
    expect(err).toBeInstanceOf(HpcBridgeError);
    expect(err.code).toBe('UNREACHABLE');
    expect(err.status).toBe(0);
    expect(err.attempts).toBeGreaterThan(1);
    expect(err.message).toMatch(/gave up after retrying for \d+ s \(retryFor 1 s\)/);
    // retryFor 0: one attempt only.
    const once = (await new Client({ url, token: 'x', retryFor: 0 }).getJob(1).catch((e: unknown) => e)) as HpcBridgeError;
    expect(once.attempts).toBe(1);
  });
});
