/**
 * Workflows through the whole engine on the `direct` adapter (real processes, real files). The
 * direct adapter has neither arrays nor scheduler dependencies, so here every instance is its
 * own submission and the engine itself holds children back until their parents completed; the
 * native array path is exercised against Slurm in test/e2e/workflows.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import { buildSettings } from '../../src/settings/load.js';
import { silentLogger } from '../../src/logging.js';
import { BridgeError } from '../../src/domain/errors.js';

let bridge: Bridge | undefined;
afterEach(async () => {
  await bridge?.close();
  bridge = undefined;
});

function open(): Bridge {
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-wf-'));
  const settings = buildSettings({ dataDir }, [
    { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 0.2, lostGraceSeconds: 2 } },
  ]);
  bridge = Bridge.open(settings, { logger: silentLogger() });
  bridge.start();
  return bridge;
}

function stdout(b: Bridge, id: number): string {
  return readFileSync(join(jobDirFor(b.reconciler('here')!.rt.scratchRoot, b.store.instanceId(), id), '.hpcb/task.0.stdout'), 'utf8');
}

const job = (name: string, cmd: string, extra: Record<string, unknown> = {}) => ({ name, tasks: [{ cmd }], ...extra });

describe('workflows on the direct adapter', () => {
  it('runs a DAG in dependency order, a sweep, a zip and a repeat, each instance with its own result', async () => {
    const b = open();
    const created = b.submitWorkflow('alice', {
      name: 'dag',
      jobs: [
        job('first', 'date +%s%N > /dev/null; echo one'),
        job('sweep', 'echo "$x:$y:$HPCB_PARAM_x:${y}"'),
        job('zip', 'echo "$file-$n"'),
        job('rep', 'echo "rep $HPCB_INSTANCE_INDEX"'),
      ],
      dependencies: { first: ['sweep', 'zip'] },
      factories: [
        { type: 'parameterSweep', jobs: ['sweep'], parameters: [{ name: 'x', start: 1, end: 2, step: 1 }, { name: 'y', start: 0.1, end: 0.3, step: 0.1 }] },
        { type: 'zip', jobs: ['zip'], parameters: [{ name: 'file', values: ['a.txt', 'b.txt'] }, { name: 'n', values: [1, 2] }] },
        { type: 'repeat', jobs: ['rep'], number: 2 },
      ],
    });
    expect(created.progress.total).toBe(1 + 6 + 2 + 2);
    const done = await b.waitWorkflow(created.id, 60_000);
    expect(done.status).toBe('completed');
    expect(done.progress).toEqual({ total: 11, completed: 11, failed: 0, deleted: 0, running: 0, waiting: 0 });
    const byName = (n: string) => done.jobs.filter((j) => j.name === n);
    expect(byName('sweep').map((j) => stdout(b, j.id))).toEqual(['1:0.1:1:0.1\n', '1:0.2:1:0.2\n', '1:0.3:1:0.3\n', '2:0.1:2:0.1\n', '2:0.2:2:0.2\n', '2:0.3:2:0.3\n']);
    expect(byName('zip').map((j) => stdout(b, j.id))).toEqual(['a.txt-1\n', 'b.txt-2\n']);
    expect(byName('rep').map((j) => stdout(b, j.id))).toEqual(['rep 0\n', 'rep 1\n']);
    // Children started only after their parent ended (the engine holds them in accepted).
    const first = b.get(byName('first')[0]!.id)!;
    for (const j of [...byName('sweep'), ...byName('zip')]) {
      const staged = b.store.events(j.id).find((e) => e.to === 'staging_in')!;
      expect(staged.at).toBeGreaterThanOrEqual(first.endedAt!);
    }
    // Jobs of the workflow are ordinary jobs: listed with their workflow id.
    expect(b.list({ owner: 'alice', workflowId: created.id, scope: 'all' })).toHaveLength(11);
  });

  it('never runs the children of a failed parent, says why, and reruns only what failed and its descendants', async () => {
    const b = open();
    // The failing job looks for a flag outside its own directory, so the test can fix it for the rerun.
    const flag = join(mkdtempSync(join(tmpdir(), 'hpcb-wf-flag-')), 'go');
    const wf = b.submitWorkflow('alice', {
      jobs: [job('ok', 'echo fine'), job('bad', `test -f '${flag}' || exit 4; echo fixed`), job('child', 'echo child'), job('grandchild', 'echo gc')],
      dependencies: { bad: ['child'], child: ['grandchild'] },
    });
    const failed = await b.waitWorkflow(wf.id, 60_000);
    expect(failed.status).toBe('failed');
    const get = (v: typeof failed, n: string) => v.jobs.find((j) => j.name === n)!;
    expect(get(failed, 'ok').status).toBe('completed');
    expect(get(failed, 'bad').status).toBe('failed');
    expect(get(failed, 'bad').statusReason).toBe('task exited with code 4');
    for (const n of ['child', 'grandchild']) {
      expect(get(failed, n).status).toBe('failed');
      expect(get(failed, n).statusReason).toBe('dependency failed');
      // Never reached the cluster: no staging, no native id.
      expect(b.store.events(get(failed, n).id).map((e) => e.to)).toEqual(['accepted', 'failed']);
    }
    expect(failed.progress).toMatchObject({ total: 4, completed: 1, failed: 3 });

    expect(() => b.rerunWorkflow(wf.id, 'bob')).toThrow(BridgeError);
    writeFileSync(flag, '');
    const rerun = b.rerunWorkflow(wf.id, 'alice');
    // "ok" is kept as it was; the failed job and its descendants are new rows.
    expect(get(rerun, 'ok').id).toBe(get(failed, 'ok').id);
    for (const n of ['bad', 'child', 'grandchild']) expect(get(rerun, n).id).not.toBe(get(failed, n).id);
    const after = await b.waitWorkflow(wf.id, 60_000);
    expect(after.status).toBe('completed');
    expect(after.reruns).toBe(1);
    expect(stdout(b, get(after, 'bad').id)).toBe('fixed\n');
    expect(stdout(b, get(after, 'grandchild').id)).toBe('gc\n');
  });

  it('cancels every job on delete', async () => {
    const b = open();
    const wf = b.submitWorkflow('alice', {
      jobs: [job('a', 'sleep 60'), job('b', 'echo b')],
      dependencies: { a: ['b'] },
      factories: [{ type: 'repeat', jobs: ['a'], number: 2 }],
    });
    for (let i = 0; i < 300 && b.getWorkflow(wf.id)!.progress.running < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(b.getWorkflow(wf.id)!.status).toBe('running');
    b.deleteWorkflow(wf.id, 'alice');
    const done = await b.waitWorkflow(wf.id, 60_000);
    expect(done.status).toBe('deleted');
    expect(done.jobs.filter((j) => j.name === 'a').map((j) => j.status)).toEqual(['deleted', 'deleted']);
    expect(['deleted', 'failed']).toContain(done.jobs.find((j) => j.name === 'b')!.status);
  });

  it('maximumParallel holds instances back without a native array: never more than that many run at once', async () => {
    const b = open();
    // Each instance stamps its own start and end (nanoseconds); the overlap is counted from them.
    const wf = b.submitWorkflow('alice', {
      jobs: [job('sim', 'date +%s%N > t0; sleep 0.5; date +%s%N > t1'), job('other', 'date +%s%N > t0; sleep 0.5; date +%s%N > t1')],
      factories: [{ type: 'repeat', jobs: ['sim'], number: 6 }, { type: 'repeat', jobs: ['other'], number: 2 }],
      policies: { maximumParallel: 2 },
    });
    const done = await b.waitWorkflow(wf.id, 60_000);
    expect(done.status).toBe('completed');
    const rt = b.reconciler('here')!.rt;
    const stamps = (name: string) =>
      done.jobs.filter((j) => j.name === name).map((j) => ['t0', 't1'].map((f) => BigInt(readFileSync(join(jobDirFor(rt.scratchRoot, b.store.instanceId(), j.id), f), 'utf8').trim())) as [bigint, bigint]);
    const maxOverlap = (iv: [bigint, bigint][]) => {
      const ev = iv.flatMap(([s, e]) => [[s, 1], [e, -1]] as [bigint, number][]).sort((x, y) => (x[0] === y[0] ? x[1] - y[1] : x[0] < y[0] ? -1 : 1));
      let cur = 0;
      let max = 0;
      for (const [, d] of ev) max = Math.max(max, (cur += d));
      return max;
    };
    expect(stamps('sim')).toHaveLength(6);
    expect(maxOverlap(stamps('sim'))).toBeLessThanOrEqual(2);
    // The limit is per factory job: "other" is not held back by "sim".
    expect(b.store.events(done.jobs.find((j) => j.name === 'other')!.id).map((e) => e.to)).toContain('completed');
  });

  it('hides another user\'s workflow', () => {
    const b = open();
    const wf = b.submitWorkflow('alice', { jobs: [job('a', 'true')] });
    expect(b.getWorkflow(wf.id, 'bob')).toBeUndefined();
    expect(b.listWorkflows('bob')).toEqual([]);
    expect(() => b.deleteWorkflow(wf.id, 'bob')).toThrow(/not found/);
  });
});
