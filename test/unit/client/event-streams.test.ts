/**
 * Event streams cost per change, not per subscriber: however many streams one user has open, a
 * state change reads that user's new event rows once and every stream gets them; and streams
 * are capped per user and per daemon with a 429 that names the limit.
 */
import { get } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobEventView } from '../../../src/client/index.js';
import { Job } from '../../../src/client/index.js';
import { call, startDaemon, type Daemon } from '../../api/helpers.js';

let d: Daemon | undefined;
afterEach(async () => {
  await d?.close();
  d = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('event streams', () => {
  it('one read per change for all of a user\'s streams, each stream gets every event once', async () => {
    d = await startDaemon({ start: false });
    const job = await new Job({ tasks: [{ cmd: 'true' }] }, d.alice).create();
    const ac = new AbortController();
    const got: JobEventView[][] = Array.from({ length: 10 }, () => []);
    const following = got.map(async (list) => {
      for await (const e of d!.alice.events({ signal: ac.signal })) list.push(e);
    });
    while (d.app.hub.streamCount < 10) await sleep(10);
    await sleep(50);
    const before = d.app.hub.reads;
    d.bridge.store.transition(job.id!, ['accepted'], 'deleted', { statusReason: 'test' }, 'test');
    while (got.some((l) => l.length < 1)) await sleep(10);
    expect(d.app.hub.reads - before).toBe(1);
    for (const l of got) expect(l.map((e) => [e.jobId, e.status])).toEqual([[job.id, 'deleted']]);
    ac.abort();
    await Promise.all(following);
  });

  it('a slow reader misses nothing: it is skipped while its socket is full, then catches up in order', async () => {
    d = await startDaemon({ start: false });
    const ids: number[] = [];
    for (let i = 0; i < 200; i++) ids.push(d.bridge.submit('alice', { tasks: [{ cmd: 'true' }] }).job.id);
    const res = await new Promise<import('node:http').IncomingMessage>((resolve) => get(`${d!.url}/api/v1/events`, { headers: { authorization: `Bearer ${d!.tokens.alice}` } }, resolve));
    res.pause();
    while (d.app.hub.streamCount < 1) await sleep(10);
    // About 13 MB of events while nobody reads: far more than the socket buffers hold.
    const reason = 'r'.repeat(32_000);
    const fast: JobEventView[] = [];
    const ac = new AbortController();
    const following = (async () => {
      for await (const e of d!.alice.events({ signal: ac.signal })) fast.push(e);
    })();
    while (d.app.hub.streamCount < 2) await sleep(10);
    for (const id of ids) {
      d.bridge.store.transition(id, ['accepted'], 'staging_in', {}, reason);
      d.bridge.store.transition(id, ['staging_in'], 'deleted', { statusReason: 'test' }, reason);
      if (id % 50 === 0) await sleep(1);
    }
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (text += c));
    res.resume();
    const seen = () => [...text.matchAll(/^id: (\d+)\nevent: job$/gm)].map((m) => Number(m[1]));
    while (seen().length < ids.length * 2) await sleep(20);
    const got = seen();
    expect(got).toHaveLength(ids.length * 2);
    expect([...got].sort((a, b) => a - b)).toEqual(got);
    expect(new Set(got).size).toBe(got.length);
    while (fast.length < ids.length * 2) await sleep(10);
    expect(fast.map((e) => e.id)).toEqual(got);
    // The slow stream really was skipped and caught up on its own.
    expect(d.app.hub.catchUpReads).toBeGreaterThan(0);
    res.destroy();
    ac.abort();
    await following;
  });

  it('refuses a stream over the per-user cap with 429 naming the limit; other users are unaffected', async () => {
    d = await startDaemon({ start: false, app: { maxStreamsPerUser: 2, maxStreams: 3 } });
    const ac = new AbortController();
    const open = (token: string, signal = ac.signal) => fetch(`${d!.url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal });
    const a1 = await open(d.tokens.alice);
    const a2 = await open(d.tokens.alice);
    expect([a1.status, a2.status]).toEqual([200, 200]);
    const a3 = await call(d, 'GET', '/events', {});
    expect(a3.status).toBe(429);
    expect(a3.json.error.code).toBe('TOO_MANY_STREAMS_PER_USER');
    expect(a3.json.error.message).toMatch(/limit 2/);
    const b1 = await open(d.tokens.bob);
    expect(b1.status).toBe(200);
    const b2 = await call(d, 'GET', '/events', { token: d.tokens.bob });
    expect(b2.status).toBe(429);
    expect(b2.json.error.code).toBe('TOO_MANY_STREAMS');
    expect(b2.json.error.message).toMatch(/limit \(3\)/);
    ac.abort();
    // A closed stream frees its place.
    while (d.app.hub.streamCount > 0) await sleep(10);
    const ac2 = new AbortController();
    const again = await open(d.tokens.alice, ac2.signal);
    expect(again.status).toBe(200);
    ac2.abort();
  });
});
