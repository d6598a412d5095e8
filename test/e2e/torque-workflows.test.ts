/**
 * Workflows through the PBS adapter with `flavor: 'torque'` on the real Torque-compatible
 * qsub/qstat of the test cluster (slurm-wlm-torque 22.05) over the real sshd.
 *
 * The wrappers accept `-t` (sbatch makes it --array) and `-W depend=afterok:` (--dependency), but
 * their qstat cannot be followed for arrays: a started element is listed under its own Slurm job
 * id with no index, and every pending element under the array's id as one job
 * (test/fixtures/slurm-22.05/12t-qstat-array-elements.txt). A child whose parent failed stays `Q`
 * with no reason. So on this flavor the adapter declares neither native arrays nor native
 * dependencies (docs/SCHEDULERS.md) and the engine runs the workflow: one qsub per instance,
 * children held back until their parents completed. These tests prove that path end to end.
 */
import { posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import type { WorkflowView } from '../../src/engine/workflowStatus.js';
import { labSettings, onLogin } from './support/lab.js';

let bridge: Bridge;
let env: ReturnType<typeof labSettings>['env'];

beforeAll(() => {
  const lab = labSettings({ scheduler: 'pbs', flavor: 'torque' });
  env = lab.env;
  bridge = Bridge.open(lab.settings);
  bridge.start();
});

afterAll(async () => {
  await bridge?.close();
});

function dirOf(id: number): string {
  const rt = bridge.reconciler('lab')!.rt;
  return jobDirFor(rt.scratchRoot, bridge.store.instanceId(), id);
}

async function read(path: string): Promise<string | null> {
  const buf = await bridge.reconciler('lab')!.rt.transport.readRange(path, 0, 1 << 20);
  return buf ? buf.toString('utf8') : null;
}

async function finish(id: number): Promise<WorkflowView> {
  const v = await bridge.waitWorkflow(id, 240_000);
  expect(['completed', 'failed', 'deleted'], `workflow ${id} should have ended (is ${v.status})`).toContain(v.status);
  return v;
}

const job = (name: string, cmd: string) => ({ name, tasks: [{ cmd }], resources: { cpus: 1, memory: 0.1, walltime: 5 } });

describe('workflows on the Torque wrappers over SSH (pbs adapter, flavor torque)', () => {
  it('runs a 2-D sweep of 12 instances, one qsub each (no native array here), each with its own correct result', async () => {
    const rec = bridge.reconciler('lab')!;
    expect(rec.rt.adapter.arrays).toBeUndefined();
    const before = { ...rec.counters };
    const wf = bridge.submitWorkflow('alice', {
      name: 'torque-sweep-12',
      jobs: [job('grid', 'echo "$a $b $(awk -v a=$a -v b=$b \'BEGIN { print a * b }\')"')],
      factories: [{ type: 'parameterSweep', jobs: ['grid'], parameters: [{ name: 'a', start: 1, end: 3, step: 1 }, { name: 'b', start: 0.25, end: 1, step: 0.25 }] }],
      policies: { maximumParallel: 6 },
    });
    expect(wf.progress.total).toBe(12);
    const done = await finish(wf.id);
    expect(done.status).toBe('completed');
    expect(done.progress.completed).toBe(12);
    // No carrier: each instance is its own scheduler job with the wrappers' bare numeric id.
    expect(bridge.store.workflowJobs(wf.id).some((r) => r.kind === 'array')).toBe(false);
    expect(rec.counters.jobsSubmitted - before.jobsSubmitted).toBe(12);
    const ids = done.jobs.map((j) => j.nativeId!);
    expect(new Set(ids).size).toBe(12);
    expect(ids.every((id) => /^\d+$/.test(id))).toBe(true);
    // Ground truth under the wrappers: twelve scheduler jobs, all COMPLETED.
    const sacct = await onLogin(env, `sacct -n -X -P -j ${ids.join(',')} -o JobID,State`);
    expect(sacct.trim().split('\n').filter((l) => /COMPLETED/.test(l))).toHaveLength(12);
    for (const j of done.jobs) {
      const [sa, sb, prod] = (await read(posix.join(dirOf(j.id), '.hpcb/task.0.stdout')))!.trim().split(' ');
      expect([sa, sb]).toEqual([j.parameters.a, j.parameters.b]);
      expect(Number(prod)).toBeCloseTo(Number(j.parameters.a) * Number(j.parameters.b), 6);
    }
  });

  it('starts a child only after its parent completed, and the child reads what the parent wrote', async () => {
    const wf = bridge.submitWorkflow('alice', {
      jobs: [job('parent', 'sleep 2; echo 42 > answer; date +%s > ended'), job('child', 'date +%s > began; cat "$HPCB_PARENT_parent/answer"')],
      dependencies: { parent: ['child'] },
    });
    const done = await finish(wf.id);
    expect(done.status).toBe('completed');
    const parent = done.jobs.find((j) => j.name === 'parent')!;
    const child = done.jobs.find((j) => j.name === 'child')!;
    expect(await read(posix.join(dirOf(child.id), '.hpcb/task.0.stdout'))).toBe('42\n');
    const ended = Number((await read(posix.join(dirOf(parent.id), 'ended')))!.trim());
    const began = Number((await read(posix.join(dirOf(child.id), 'began')))!.trim());
    expect(began).toBeGreaterThanOrEqual(ended);
  });

  it('never runs the children of a failed parent: they fail with "dependency failed"', async () => {
    const wf = bridge.submitWorkflow('alice', {
      jobs: [job('bad', 'exit 4'), job('kid', 'echo kid'), job('grandkid', 'echo grandkid')],
      dependencies: { bad: ['kid'], kid: ['grandkid'] },
      factories: [{ type: 'repeat', jobs: ['kid'], number: 3 }],
    });
    const done = await finish(wf.id);
    expect(done.status).toBe('failed');
    expect(done.jobs.find((j) => j.name === 'bad')!.statusReason).toBe('task exited with code 4');
    const descendants = done.jobs.filter((j) => j.name !== 'bad');
    expect(descendants).toHaveLength(4);
    for (const j of descendants) {
      expect(j.status).toBe('failed');
      expect(j.statusReason).toBe('dependency failed');
      expect(j.nativeId).toBeNull(); // never reached the scheduler
      expect(await bridge.reconciler('lab')!.rt.transport.stat(posix.join(dirOf(j.id), '.hpcb/started'))).toBeNull();
    }
  });
});
