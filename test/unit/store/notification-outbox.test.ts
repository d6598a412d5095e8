/**
 * The outbox rows are written by the terminal transition itself: one per notification entry,
 * never a second for the same event, none for a transition that did not happen, and the
 * workflow's row only when its last current job has ended.
 */
import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../../src/domain/errors.js';
import { parseJobSpec } from '../../../src/domain/jobSpec.js';
import { parseWorkflow } from '../../../src/domain/workflowSpec.js';
import { Store } from '../../../src/store/store.js';

const hook = { event: 'jobFinished', type: 'webhook', url: 'https://example.org/h', secret: 'sixteen-characters!' };

describe('notification outbox', () => {
  it('a terminal transition enqueues one row per entry, in its own transaction, once', () => {
    const store = Store.open(':memory:', { now: () => 5000 });
    const withTwo = store.createJob({ owner: 'alice', cluster: 'c1', spec: parseJobSpec({ tasks: [{ cmd: 'true' }], notifications: [hook, { event: 'jobFinished', type: 'email', to: 'a@example.org' }] }) }).job.id;
    const without = store.createJob({ owner: 'alice', cluster: 'c1', spec: parseJobSpec({ tasks: [{ cmd: 'true' }] }) }).job.id;

    store.transition(withTwo, ['accepted'], 'staging_in');
    expect(store.notifications.forJob(withTwo)).toEqual([]);
    store.transition(withTwo, ['staging_in'], 'failed', { statusReason: 'no inputs' });
    const rows = store.notifications.forJob(withTwo);
    expect(rows.map((r) => [r.type, r.target, r.status, r.attempts, r.nextAttemptAt])).toEqual([
      ['webhook', 'https://example.org/h', 'pending', 0, 5000],
      ['email', 'a@example.org', 'pending', 0, 5000],
    ]);
    expect(new Set(rows.map((r) => r.deliveryId)).size).toBe(2);
    expect(JSON.parse(rows[0]!.body)).toEqual({ deliveryId: rows[0]!.deliveryId, event: 'jobFinished', at: new Date(5000).toISOString(), job: { id: withTwo, name: '', status: 'failed', statusReason: 'no inputs', exitCode: null, cluster: 'c1', workflowId: null } });
    expect(rows[0]!.body).not.toContain(hook.secret);

    // A transition that does not happen writes nothing.
    expect(() => store.transition(withTwo, ['staging_in'], 'failed')).toThrow(BridgeError);
    expect(store.notifications.forJob(withTwo)).toHaveLength(2);
    store.transition(without, ['accepted'], 'deleted');
    expect(store.notifications.forJob(without)).toEqual([]);

    // Delivered is final: nothing moves it back to pending or failed.
    const [first] = rows;
    expect(store.notifications.begin(first!.id, 6000, 9000)).toBe(true);
    store.notifications.delivered(first!.id, 6500);
    store.notifications.retryAt(first!.id, 7000, 'late error');
    store.notifications.failed(first!.id, 'late error');
    expect(store.notifications.begin(first!.id, 7000, 9000)).toBe(false);
    expect(store.notifications.get(first!.id)).toMatchObject({ status: 'delivered', attempts: 1, deliveredAt: 6500, lastError: null });
    expect(store.notifications.due(100_000, 10).map((r) => r.id)).toEqual([rows[1]!.id]);
  });

  it("a workflow's row is written when its last current job ends, and again for a rerun", () => {
    const store = Store.open(':memory:', { now: () => 1000 });
    const plan = parseWorkflow({ name: 'w', jobs: [{ name: 'a', tasks: [{ cmd: 'true' }] }, { name: 'b', tasks: [{ cmd: 'true' }] }], notifications: [{ ...hook, event: 'workflowFinished' }] });
    const rows = plan.order.flatMap((name) => plan.instances.get(name)!.map((i) => ({ ref: `${name}#${i.index}`, kind: 'job' as const, cluster: 'c1', spec: i.spec, wfJob: name, wfIndex: i.index, wfParams: null })));
    const { workflow } = store.createWorkflow({ owner: 'alice', name: 'w', spec: plan.spec, labels: {}, rows });
    const [a, b] = store.workflowJobs(workflow.id).map((j) => j.id);
    store.transition(a!, ['accepted'], 'failed');
    expect(store.notifications.forWorkflow(workflow.id)).toEqual([]);
    store.transition(b!, ['accepted'], 'failed');
    const first = store.notifications.forWorkflow(workflow.id);
    expect(first).toHaveLength(1);
    expect(JSON.parse(first[0]!.body).workflow).toEqual({ id: workflow.id, name: 'w', status: 'failed', rerun: 0, jobs: { failed: 2 } });

    const [again] = store.replaceWorkflowRows(workflow.id, [a!], [{ ...rows[0]!, ref: 'a#rerun' }]);
    store.transition(again!, ['accepted'], 'deleted');
    const both = store.notifications.forWorkflow(workflow.id);
    expect(both).toHaveLength(2);
    expect(JSON.parse(both[1]!.body).workflow).toMatchObject({ status: 'failed', rerun: 1, jobs: { failed: 1, deleted: 1 } });
  });
});
