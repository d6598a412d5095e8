import { describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../src/domain/jobSpec.js';
import { Store } from '../../src/store/store.js';

const spec = parseJobSpec({ name: 'demo', tasks: [{ cmd: 'echo hi' }] });

describe('cancel requests in the store', () => {
  it('requestCancel records the request once, with one event row, and leaves the state to the engine', () => {
    const s = Store.open(':memory:');
    const { job } = s.createJob({ owner: 'alice', cluster: 'c1', spec });
    const first = s.requestCancel(job.id)!;
    expect(first.state).toBe('accepted');
    expect(first.cancelRequestedAt).not.toBeNull();
    const again = s.requestCancel(job.id)!;
    expect(again.cancelRequestedAt).toBe(first.cancelRequestedAt);
    const events = s.events(job.id);
    expect(events.map((e) => [e.from, e.to, e.reason])).toEqual([
      [null, 'accepted', 'accepted'],
      ['accepted', 'accepted', 'cancel requested'],
    ]);
    s.close();
  });

  it('requestCancel leaves an ended job as it was', () => {
    const s = Store.open(':memory:');
    const { job } = s.createJob({ owner: 'alice', cluster: 'c1', spec });
    s.transition(job.id, ['accepted'], 'failed', { statusReason: 'test' });
    const after = s.requestCancel(job.id)!;
    expect(after.state).toBe('failed');
    expect(after.cancelRequestedAt).toBeNull();
    expect(s.events(job.id).map((e) => e.to)).toEqual(['accepted', 'failed']);
    s.close();
  });

  it('decideAndCancel writes the outcome and the cancel request together, only from the given states', () => {
    const s = Store.open(':memory:');
    const { job } = s.createJob({ owner: 'alice', cluster: 'c1', spec });
    const outcome = { status: 'failed' as const, reason: 'dependency failed' };
    expect(s.decideAndCancel(job.id, ['queued'], outcome)).toBe(false);
    expect(s.get(job.id)!).toMatchObject({ outcome: null, cancelRequestedAt: null });
    expect(s.decideAndCancel(job.id, ['accepted'], outcome)).toBe(true);
    expect(s.get(job.id)!).toMatchObject({ state: 'accepted', outcome, statusReason: 'dependency failed' });
    expect(s.get(job.id)!.cancelRequestedAt).not.toBeNull();
    // A second decision (or a user's cancel after it) changes nothing.
    expect(s.decideAndCancel(job.id, ['accepted'], { status: 'failed', reason: 'other' })).toBe(false);
    expect(s.get(job.id)!.outcome).toEqual(outcome);
    expect(s.events(job.id).map((e) => [e.to, e.reason, e.detail])).toEqual([
      ['accepted', 'accepted', null],
      ['accepted', 'cancel requested: dependency failed', { outcome }],
    ]);
    s.close();
  });
});
