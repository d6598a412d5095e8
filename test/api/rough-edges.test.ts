/**
 * Rough edges a new user hit through the API (issue 17): a refused big body must reach the
 * client as a 413, lists return summaries, artifacts are paged.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { call, startDaemon, type Daemon } from './helpers.js';

let d: Daemon | undefined;
afterEach(async () => {
  await d?.close();
  d = undefined;
});

describe('API rough edges', () => {
  it('a 20 MB POST /jobs gets the 413 with its JSON error through fetch, every time (declared or chunked)', async () => {
    d = await startDaemon({ start: false });
    // Larger than any socket buffer on both sides: the daemon sees the limit long before the
    // client has finished sending.
    const big = JSON.stringify({ tasks: [{ cmd: 'x'.repeat(20 << 20) }] });
    for (let i = 0; i < 6; i++) {
      const r = await call(d, 'POST', '/jobs', { body: big });
      expect(r.status).toBe(413);
      expect(r.json.error.code).toBe('TOO_LARGE');
    }
    for (let i = 0; i < 3; i++) {
      const chunk = new TextEncoder().encode('y'.repeat(1 << 20));
      const stream = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('{"tasks":[{"cmd":"'));
          for (let k = 0; k < 20; k++) c.enqueue(chunk);
          c.close();
        },
      });
      const res = await fetch(`${d.url}/api/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${d.tokens.alice}`, 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TOO_LARGE');
    }
    expect((await call(d, 'POST', '/jobs', { body: { name: 'after', tasks: [{ cmd: 'true' }] } })).status).toBe(201);
  }, 120_000);

  it('GET /jobs lists summaries without definitions; GET /jobs/{id} has the whole definition', async () => {
    d = await startDaemon({ start: false });
    const content = Buffer.from('secret-ish input contents\n').toString('base64');
    const created = await call(d, 'POST', '/jobs', { body: { name: 'sum', labels: { k: 'v' }, tasks: [{ cmd: 'cat in.txt' }], inputs: [{ filename: 'in.txt', content }] } });
    expect(created.status).toBe(201);
    const list = await call(d, 'GET', '/jobs?all=true');
    expect(list.status).toBe(200);
    const row = list.json.jobs[0];
    expect(row).toMatchObject({ id: created.json.id, name: 'sum', status: expect.any(String), labels: { k: 'v' }, cluster: 'here' });
    expect(row.definition).toBeUndefined();
    expect(list.text).not.toContain(content);
    const one = await call(d, 'GET', `/jobs/${created.json.id}`);
    expect(one.json.definition.inputs[0].content).toBe(content);
  });

  it('GET /jobs/counts answers the number of the caller\'s jobs per status', async () => {
    d = await startDaemon({ start: false });
    for (let i = 0; i < 3; i++) await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'true' }] } });
    await call(d, 'POST', '/jobs', { token: d.tokens.bob, body: { tasks: [{ cmd: 'true' }] } });
    const r = await call(d, 'GET', '/jobs/counts');
    expect(r.status).toBe(200);
    expect(r.json.counts).toEqual({ pending: 3 });
    expect(r.json.total).toBe(3);
  });

  it('GET /artifacts is paged by name: limit, then after=<last name>', async () => {
    d = await startDaemon({ start: false });
    for (const n of ['c', 'a', 'e', 'b', 'd']) {
      expect((await call(d, 'PUT', `/artifacts/${n}`, { raw: n, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(201);
    }
    const first = await call(d, 'GET', '/artifacts?limit=2');
    expect(first.json.artifacts.map((a: { name: string }) => a.name)).toEqual(['a', 'b']);
    const next = await call(d, 'GET', '/artifacts?limit=2&after=b');
    expect(next.json.artifacts.map((a: { name: string }) => a.name)).toEqual(['c', 'd']);
    const bad = await call(d, 'GET', '/artifacts?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.json.error.field).toBe('limit');
  });
});
