/** The store's read-only queries for the event stream and the metrics endpoint. */
import { describe, expect, it } from 'vitest';
import { clockedStore } from './helpers.js';

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
