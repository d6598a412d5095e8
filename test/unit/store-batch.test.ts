import { describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../src/domain/jobSpec.js';
import { Store } from '../../src/store/store.js';

const spec = parseJobSpec({ tasks: [{ cmd: 'true' }] });

describe('a batch of transitions in the store', () => {
  it('commits many guarded moves at once and tells listeners only after the commit', () => {
    const s = Store.open(':memory:');
    const ids = [1, 2, 3].map(() => s.createJob({ owner: 'alice', cluster: 'c1', spec }).job.id);
    const heard: number[] = [];
    s.on('transition', (e) => heard.push(e.job.id));
    s.batch(() => {
      for (const id of ids) s.transition(id, ['accepted'], 'staging_in');
      expect(heard).toEqual([]);
      // A move that finds the job elsewhere is refused alone; the others stand.
      expect(() => s.transition(ids[0]!, ['accepted'], 'staging_in')).toThrow(/STALE|expected accepted/);
    });
    expect(heard).toEqual(ids);
    expect(ids.map((id) => s.get(id)!.state)).toEqual(['staging_in', 'staging_in', 'staging_in']);
    s.close();
  });

  it('rolls every move back when the batch throws, and nobody hears of them', () => {
    const s = Store.open(':memory:');
    const { job } = s.createJob({ owner: 'alice', cluster: 'c1', spec });
    const heard: number[] = [];
    s.on('transition', (e) => heard.push(e.job.id));
    expect(() =>
      s.batch(() => {
        s.transition(job.id, ['accepted'], 'staging_in');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(s.get(job.id)!.state).toBe('accepted');
    expect(s.events(job.id)).toHaveLength(1);
    expect(heard).toEqual([]);
    s.close();
  });
});
