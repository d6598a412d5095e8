/**
 * A sweep larger than the scheduler's largest array, on the real Slurm over the real sshd. The
 * lab's MaxArraySize is 1001; the adapter is told 100 here so the case stays small: 250 instances
 * become three arrays (one submission each), every instance runs exactly once with its own
 * result, a child waits for all three arrays, and deleting a pending sweep cancels every array.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { labSettings, onLogin, until } from './support/lab.js';

const N = 250;
const MAX = 100;
let bridge: Bridge;
let lab: ReturnType<typeof labSettings>;

beforeAll(() => {
  lab = labSettings({ cluster: { adapter: { maxArraySize: MAX } } });
  bridge = Bridge.open(lab.settings);
  bridge.start();
});

afterAll(async () => {
  await bridge?.close();
});

const arrayOf = (nativeId: string | null) => nativeId!.split('_')[0]!;

describe('a sweep above the largest array on Slurm', () => {
  it(`runs ${N} instances as ${Math.ceil(N / MAX)} arrays of at most ${MAX}, each instance once, and a child after all of them`, { timeout: 600_000 }, async () => {
    const runs = `${lab.scratchRoot}/runs-${Date.now()}.txt`;
    const counters = bridge.reconciler('lab')!.counters;
    const before = { ...counters };
    const wf = bridge.submitWorkflow('alice', {
      name: 'sweep-chunks',
      jobs: [
        // Each run leaves one line in a shared file (short appends: one write each), so a
        // second run of an instance shows as a duplicate line.
        { name: 'point', tasks: [{ cmd: `echo "$((x * 3))"; echo "$x $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID" >> '${runs}'` }], resources: { cpus: 1, memory: 0.1, walltime: 5 } },
        { name: 'total', tasks: [{ cmd: `wc -l < '${runs}'` }], resources: { cpus: 1, memory: 0.1, walltime: 5 } },
      ],
      dependencies: { point: ['total'] },
      factories: [{ type: 'parameterSweep', jobs: ['point'], parameters: [{ name: 'x', start: 1, end: N, step: 1 }] }],
    });
    expect(wf.progress.total).toBe(N + 1);
    const done = await bridge.waitWorkflow(wf.id, 540_000);
    expect(done.status).toBe('completed');
    expect(done.progress.completed).toBe(N + 1);

    const points = done.jobs.filter((j) => j.name === 'point');
    const arrays = [...new Set(points.map((j) => arrayOf(j.nativeId)))];
    expect(arrays.length).toBe(Math.ceil(N / MAX));
    // The sweep's three submissions (one batch of the submit program) and the child's one.
    expect(counters.jobsSubmitted - before.jobsSubmitted).toBe(arrays.length + 1);
    expect(counters.submitCommands - before.submitCommands).toBeLessThanOrEqual(arrays.length + 1);
    // Every element index is below the limit, and each array's elements are 0..size-1 in order.
    for (const id of arrays) {
      const mine = points.filter((j) => arrayOf(j.nativeId) === id).sort((a, b) => a.index - b.index);
      expect(mine.length).toBeLessThanOrEqual(MAX);
      expect(mine.map((j) => j.nativeId)).toEqual(mine.map((_, k) => `${id}_${k}`));
    }
    // Each instance's own result.
    for (const j of points) {
      const log = await bridge.staging.readLog(j.id, 'alice', 'stdout');
      expect(log.data.toString()).toBe(`${Number(j.parameters.x) * 3}\n`);
    }
    // Each instance ran once, as the element the bridge recorded for it.
    const lines = (await onLogin(lab.env, `cat '${runs}'`)).trim().split('\n');
    expect(lines.length).toBe(N);
    const ran = new Map(lines.map((l) => [l.split(' ')[0]!, l] as const));
    expect(ran.size).toBe(N);
    for (const j of points) expect(ran.get(j.parameters.x!)?.split(' ').slice(1).join('_')).toBe(j.nativeId);
    // The child started after every element of every array had written its line.
    const total = done.jobs.find((j) => j.name === 'total')!;
    expect((await bridge.staging.readLog(total.id, 'alice', 'stdout')).data.toString()).toBe(`${N}\n`);
  });

  it('deleting a pending sweep of several arrays cancels every array on the scheduler', { timeout: 300_000 }, async () => {
    const wf = bridge.submitWorkflow('alice', {
      name: 'sweep-chunks-parked',
      jobs: [{ name: 'wait', queue: 'parked', tasks: [{ cmd: 'true' }] }],
      factories: [{ type: 'parameterSweep', jobs: ['wait'], parameters: [{ name: 'x', start: 1, end: N, step: 1 }] }],
    });
    const queued = await until('every instance to be in the queue', () => {
      const v = bridge.getWorkflow(wf.id)!;
      return v.jobs.every((j) => j.nativeId !== null && j.status === 'idle') ? v : undefined;
    }, 120_000);
    const arrays = [...new Set(queued.jobs.map((j) => arrayOf(j.nativeId)))];
    expect(arrays.length).toBe(Math.ceil(N / MAX));
    const pending = async () => (await onLogin(lab.env, `squeue -h -r -j ${arrays.join(',')} -o %i 2>/dev/null || true`)).trim().split('\n').filter(Boolean).length;
    expect(await pending()).toBe(N);

    bridge.deleteWorkflow(wf.id, 'alice');
    const ended = await bridge.waitWorkflow(wf.id, 240_000);
    expect(ended.status).toBe('deleted');
    expect(ended.jobs.every((j) => j.status === 'deleted')).toBe(true);
    await until('squeue to list none of the arrays', async () => ((await pending()) === 0 ? true : undefined), 60_000);
  });
});
