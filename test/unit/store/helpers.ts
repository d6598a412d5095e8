import { parseJobSpec } from '../../../src/domain/jobSpec.js';
import { Store } from '../../../src/store/store.js';

export const spec = parseJobSpec({ name: 'demo', tasks: [{ cmd: 'echo hi' }] });

/** An in-memory store with a clock the test moves. */
export function clockedStore(path = ':memory:') {
  const clock = { now: 1_000_000 };
  const store = Store.open(path, { now: () => clock.now });
  const job = (owner = 'alice', cluster = 'c1') => store.createJob({ owner, cluster, spec }).job.id;
  /** Move a job to a terminal state at the clock's time (accepted -> deleted is allowed). */
  const end = (id: number) => store.transition(id, ['accepted'], 'deleted', {}, 'test');
  return { store, clock, job, end };
}
