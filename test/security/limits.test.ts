/**
 * Size limits (request bodies, inline inputs, labels, listing pages, log chunks) and clients
 * that stall or vanish mid-body: they must not pin a socket, an upload slot or a temporary
 * file forever. Real API on the `direct` adapter.
 */
import { existsSync, readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { call, startDaemon, type Daemon } from '../api/helpers.js';

let d: Daemon | undefined;
afterEach(async () => {
  await d?.close();
  d = undefined;
});

async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A raw connection that writes the head and the first bytes of a body, then does what it is told. */
function rawRequest(url: string, head: string, firstBytes: string): { socket: Socket; closed: Promise<string> } {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  let got = '';
  socket.on('data', (c) => (got += c.toString()));
  socket.on('error', () => {});
  socket.write(head + firstBytes);
  return { socket, closed: new Promise((resolve) => socket.on('close', () => resolve(got))) };
}

const tmpFiles = (dd: Daemon, user: string) => {
  const dir = join(dd.dataDir, 'artifacts', user, 'tmp');
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe('size limits', () => {
  it('refuses a JSON body over the limit with 413, whether its length is declared or not, and keeps serving', async () => {
    d = await startDaemon({ start: false, app: { maxJsonBytes: 64 * 1024 } });
    const big = JSON.stringify({ tasks: [{ cmd: 'x'.repeat(70 * 1024) }] });
    const declared = await call(d, 'POST', '/jobs', { body: big });
    expect(declared.status).toBe(413);
    expect(declared.json.error.code).toBe('TOO_LARGE');
    // Chunked: no Content-Length, so the limit is found while reading.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 80; i++) c.enqueue(new TextEncoder().encode(i === 0 ? '{"tasks":[{"cmd":"' : 'y'.repeat(1024)));
        c.close();
      },
    });
    const chunked = await fetch(`${d.url}/api/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${d.tokens.alice}`, 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await call(d, 'POST', '/jobs', { body: { name: 'after', tasks: [{ cmd: 'true' }] } })).status).toBe(201);
    expect(d.bridge.list({ scope: 'all' }).map((j) => j.name)).toEqual(['after']);
  });

  it('an inline input over daemon.limits.inputFileBytes, too many or too long labels: refused naming the field', async () => {
    d = await startDaemon({ start: false });
    const input = await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'true' }], inputs: [{ filename: 'big', content: Buffer.alloc((1 << 20) + 1).toString('base64') }] } });
    expect([400, 413]).toContain(input.status);
    expect(input.json.error.field).toBe('inputs[0].content');
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    const labels = await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'true' }], labels: many } });
    expect({ status: labels.status, field: labels.json.error.field }).toEqual({ status: 400, field: 'labels' });
    const longValue = await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'true' }], labels: { k: 'v'.repeat(513) } } });
    expect({ status: longValue.status, field: longValue.json.error.field }).toEqual({ status: 400, field: 'labels.k' });
    const longKey = await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'true' }], labels: { ['k'.repeat(65)]: 'v' } } });
    expect({ status: longKey.status, field: longKey.json.error.field }).toEqual({ status: 400, field: `labels.${'k'.repeat(65)}` });
    expect(longKey.json.error.message).toMatch(/at most 64/);
    expect(d.bridge.list({ scope: 'all' })).toHaveLength(0);
  });

  it('listings are paged: 1000 by default, at most 10000, and out-of-range page sizes are a 400 naming the parameter', async () => {
    d = await startDaemon({ start: false });
    for (let i = 0; i < 1005; i++) d.bridge.submit('alice', { name: `j${i}`, tasks: [{ cmd: 'true' }] });
    const first = await call(d, 'GET', '/jobs?all=true');
    expect(first.json.jobs).toHaveLength(1000);
    const last = first.json.jobs.at(-1).id as number;
    const next = await call(d, 'GET', `/jobs?all=true&before=${last}`);
    expect(next.json.jobs).toHaveLength(5);
    for (const [path, field] of [
      ['/jobs?limit=10001', 'limit'],
      ['/jobs?limit=0', 'limit'],
      ['/jobs?limit=-5', 'limit'],
      ['/jobs?limit=1e309', 'limit'],
      [`/jobs/${last}/events?limit=100000`, 'limit'],
      [`/jobs/${last}/stdout?maxBytes=${(16 << 20) + 1}`, 'maxBytes'],
      [`/jobs?label=${'k'.repeat(65)}=v`, 'label[0]'],
      [`/jobs?${Array.from({ length: 33 }, (_, i) => `label=k${i}=v`).join('&')}`, 'label'],
      [`/jobs?name=${'n'.repeat(257)}`, 'name'],
    ] as const) {
      const r = await call(d, 'GET', path);
      expect({ path: path.slice(0, 60), status: r.status, field: r.json.error?.field }).toEqual({ path: path.slice(0, 60), status: 400, field });
    }
  });

  it('request headers beyond the server limit are refused (431) and the daemon keeps serving', async () => {
    d = await startDaemon({ start: false });
    const r = await fetch(`${d.url}/api/v1/jobs`, { headers: { authorization: `Bearer ${d.tokens.alice}`, 'x-filler': 'f'.repeat(64 * 1024) } });
    expect(r.status).toBe(431);
    expect((await call(d, 'GET', '/jobs')).status).toBe(200);
  });
});

describe('stalled and abandoned request bodies', () => {
  const idle = 400;

  it('an upload that stalls is cut after the idle timeout, its temporary file removed, and the name usable again', async () => {
    d = await startDaemon({ start: false, app: { bodyIdleTimeoutMs: idle } });
    const head = `PUT /api/v1/artifacts/stalled.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.tokens.alice}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n`;
    const { closed } = rawRequest(d.url, head, 'only a few bytes');
    await until('the temporary upload file', () => tmpFiles(d!, 'alice').length === 1);
    await closed; // the server closed the connection: the client never finished
    await until('the temporary file to be removed', () => tmpFiles(d!, 'alice').length === 0);
    expect((await call(d, 'GET', '/artifacts/stalled.bin')).status).toBe(404);
    const again = await call(d, 'PUT', '/artifacts/stalled.bin', { raw: 'whole', headers: { 'content-type': 'application/octet-stream' } });
    expect(again.status).toBe(201);
    expect(again.json.size).toBe(5);
  });

  it('a client that disconnects mid-upload leaves no temporary file and no stuck upload slot', async () => {
    d = await startDaemon({ start: false, app: { bodyIdleTimeoutMs: 60_000 } });
    const head = `PUT /api/v1/artifacts/gone.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.tokens.alice}\r\nContent-Length: 1000000\r\n\r\n`;
    const { socket, closed } = rawRequest(d.url, head, 'x'.repeat(5000));
    await until('the temporary upload file', () => tmpFiles(d!, 'alice').length === 1);
    socket.destroy();
    await closed;
    await until('the temporary file to be removed', () => tmpFiles(d!, 'alice').length === 0);
    const again = await call(d, 'PUT', '/artifacts/gone.bin', { raw: 'ok', headers: { 'content-type': 'application/octet-stream' } });
    expect(again.status).toBe(201);
    expect((await call(d, 'GET', '/artifacts')).json.artifacts.map((a: { name: string }) => a.name)).toEqual(['gone.bin']);
  });

  it('a JSON body that stalls is cut too, and creates nothing', async () => {
    d = await startDaemon({ start: false, app: { bodyIdleTimeoutMs: idle } });
    const head = `POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.tokens.alice}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n`;
    const { closed } = rawRequest(d.url, head, '{"tasks":[{"cmd":"tr');
    await closed;
    expect(d.bridge.list({ scope: 'all' })).toHaveLength(0);
    expect((await call(d, 'GET', '/jobs')).status).toBe(200);
  });

  it('the body timeout does not cut long-polls that send no body, even on a reused connection', async () => {
    d = await startDaemon({ app: { bodyIdleTimeoutMs: idle } });
    // A body-carrying request first, then a long-poll well past the idle timeout on the same keep-alive socket.
    const created = await call(d, 'POST', '/jobs', { body: { name: 's', tasks: [{ cmd: 'sleep 3' }] } });
    const waited = await call(d, 'GET', `/jobs/${created.json.id}/wait?timeout=30`);
    expect(waited.status).toBe(200);
    expect(waited.json.status).toBe('completed');
  });
});
