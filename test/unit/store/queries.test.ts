/** The store's read-only queries for the event stream and the metrics endpoint. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../../../src/store/store.js';
import { clockedStore, spec } from './helpers.js';

describe('events of an owner', () => {
  it("returns only the owner's events after a cursor, oldest first, at most `limit`", () => {
    const { store, clock, job, end } = clockedStore();
    expect(store.lastEventId()).toBe(0);
    const a1 = job('alice');
    job('bob');
    clock.now += 1;
    end(a1);
    const a2 = job('alice');
    const all = store.ownerEventsAfter('alice', 0, 100);
    expect(all.map((e) => [e.jobId, e.from, e.to])).toEqual([
      [a1, null, 'accepted'],
      [a1, 'accepted', 'deleted'],
      [a2, null, 'accepted'],
    ]);
    expect(all[1]).toEqual({ id: all[1]!.id, jobId: a1, at: clock.now, from: 'accepted', to: 'deleted', reason: 'test' });
    expect(store.ownerEventsAfter('alice', all[0]!.id, 1)).toEqual([all[1]]);
    expect(store.ownerEventsAfter('alice', all[2]!.id, 100)).toEqual([]);
    expect(store.lastEventId()).toBe(all[2]!.id);
    expect(store.ownerEventsAfter('nobody', 0, 100)).toEqual([]);
  });
});

describe('job counts', () => {
  it('counts jobs by cluster and state', () => {
    const { store, job, end } = clockedStore();
    job('alice', 'c1');
    job('bob', 'c1');
    end(job('alice', 'c2'));
    const counts = store.jobCounts().sort((x, y) => `${x.cluster}${x.state}`.localeCompare(`${y.cluster}${y.state}`));
    expect(counts).toEqual([
      { cluster: 'c1', state: 'accepted', n: 2 },
      { cluster: 'c2', state: 'deleted', n: 1 },
    ]);
  });

  it('says whether it is open', () => {
    const { store } = clockedStore();
    expect(store.isOpen).toBe(true);
    store.close();
    expect(store.isOpen).toBe(false);
  });
});

describe('active jobs of a cluster', () => {
  it("stays true to every write, this connection's (patched in) and another's (read again), whole or by state", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-active-'));
    const { store, job, end } = clockedStore(join(dir, 'db.sqlite'));
    const a = job('alice', 'c1');
    const b = job('bob', 'c1');
    job('carol', 'c2');
    const ids = (js: readonly { id: number }[]) => js.map((j) => j.id);
    expect(ids(store.activeOnCluster('c1'))).toEqual([a, b]);
    expect(ids(store.activeOnCluster('c1', ['staging_in']))).toEqual([]);
    store.transition(a, ['accepted'], 'staging_in', {}, 'test');
    store.update(b, ['accepted'], { lastError: 'x' });
    const c = job('dave', 'c1');
    expect(store.activeOnCluster('c1').map((j) => [j.id, j.state, j.lastError])).toEqual([
      [a, 'staging_in', null],
      [b, 'accepted', 'x'],
      [c, 'accepted', null],
    ]);
    expect(ids(store.activeOnCluster('c1', ['staging_in']))).toEqual([a]);
    expect(store.activeOnCluster('c1')[0]!.spec).toEqual(spec);
    end(b);
    store.requestCancel(c);
    expect(ids(store.activeOnCluster('c1'))).toEqual([a, c]);
    expect(store.activeOnCluster('c1')[1]!.cancelRequestedAt).not.toBeNull();
    // A commit by another connection (a second daemon process, the CLI) is seen too.
    const other = Store.open(join(dir, 'db.sqlite'));
    other.transition(a, ['staging_in'], 'submitting', {}, 'elsewhere');
    other.close();
    expect(store.activeOnCluster('c1').map((j) => j.state)).toEqual(['submitting', 'accepted']);
    expect(ids(store.activeOnCluster('c1', ['staging_in']))).toEqual([]);
    store.close();
  });
});
