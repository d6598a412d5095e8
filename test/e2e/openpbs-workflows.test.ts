/**
 * Workflows on the real OpenPBS server over the real sshd: a factory runs as ONE `qsub -J` array
 * whose elements the status poll follows as `N[k].<server>` (`qstat -t`), a chain runs with
 * `-W depend=afterok:`, and the child of a failed parent, which the server itself deletes (kept
 * in history as F with no Exit_status, test/fixtures/openpbs-23.06/17_*), ends "dependency
 * failed", never "lost".
 */
import { posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import type { WorkflowView } from '../../src/engine/workflowStatus.js';
import { labSettings } from './support/lab.js';
import { OPENPBS, pbsServerJobs } from './support/openpbs.js';

let bridge: Bridge;
let env: ReturnType<typeof labSettings>['env'];

beforeAll(() => {
  const lab = labSettings(OPENPBS);
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

describe('workflows on OpenPBS over SSH (pbs adapter, flavor pbspro)', () => {
  it('runs a 2-D sweep of 24 instances as one qsub -J array, each instance with its own correct result', async () => {
    const rec = bridge.reconciler('lab')!;
    expect(rec.rt.adapter.arrays).toBeDefined();
    const before = { ...rec.counters };
    const wf = bridge.submitWorkflow('alice', {
      name: 'pbs-sweep-24',
      jobs: [job('grid', 'echo "$a $b $(awk -v a=$a -v b=$b \'BEGIN { print a * b }\')"')],
      factories: [{ type: 'parameterSweep', jobs: ['grid'], parameters: [{ name: 'a', start: 1, end: 6, step: 1 }, { name: 'b', start: 0.25, end: 1, step: 0.25 }] }],
      policies: { maximumParallel: 8 },
    });
    expect(wf.progress.total).toBe(24);
    const done = await finish(wf.id);
    expect(done.status).toBe('completed');
    expect(done.progress.completed).toBe(24);
    // ONE submission: one qsub, one scheduler job, and every instance is an element of it.
    expect(rec.counters.jobsSubmitted - before.jobsSubmitted).toBe(1);
    expect(rec.counters.submitCommands - before.submitCommands).toBe(1);
    const parents = new Set(done.jobs.map((j) => j.nativeId!.replace(/\[\d+\]/, '[]')));
    expect(parents.size).toBe(1);
    const arrayId = [...parents][0]!;
    expect(arrayId).toMatch(/^\d+\[\]\.\S+$/);
    expect(done.jobs.map((j) => j.nativeId)).toEqual(done.jobs.map((j) => arrayId.replace('[]', `[${j.index}]`)));
    // The server's own record: one array job, finished.
    const server = (await pbsServerJobs(env)).filter((s) => s.nativeId === arrayId);
    expect(server).toHaveLength(1);
    expect(server[0]!.state).toBe('F');
    for (const j of done.jobs) {
      const [sa, sb, prod] = (await read(posix.join(dirOf(j.id), '.hpcb/task.0.stdout')))!.trim().split(' ');
      expect([sa, sb]).toEqual([j.parameters.a, j.parameters.b]);
      expect(Number(prod)).toBeCloseTo(Number(j.parameters.a) * Number(j.parameters.b), 6);
    }
  });

  it('a chain with afterok: the child is queued before its parent ends, starts after it, and reads what it wrote', async () => {
    const wf = bridge.submitWorkflow('alice', {
      jobs: [job('parent', 'sleep 5; echo 42 > answer; date +%s > ended'), job('child', 'date +%s > began; cat "$HPCB_PARENT_parent/answer"')],
      dependencies: { parent: ['child'] },
    });
    const done = await finish(wf.id);
    expect(done.status).toBe('completed');
    const parent = done.jobs.find((j) => j.name === 'parent')!;
    const child = done.jobs.find((j) => j.name === 'child')!;
    // Handed to the server as a dependency: the child's submission named its parent's id.
    expect(bridge.store.events(child.id).some((e) => e.to === 'queued')).toBe(true);
    expect(bridge.get(child.id)!.afterOk).toContain(parent.nativeId);
    expect(await read(posix.join(dirOf(child.id), '.hpcb/task.0.stdout'))).toBe('42\n');
    const ended = Number((await read(posix.join(dirOf(parent.id), 'ended')))!.trim());
    const began = Number((await read(posix.join(dirOf(child.id), 'began')))!.trim());
    expect(began).toBeGreaterThanOrEqual(ended);
  });

  it('the child of a failed parent, deleted by the server, ends "dependency failed" (not lost) and never ran', async () => {
    const wf = bridge.submitWorkflow('alice', {
      jobs: [job('bad', 'sleep 5; exit 4'), job('kid', 'echo kid')],
      dependencies: { bad: ['kid'] },
    });
    const done = await finish(wf.id);
    expect(done.status).toBe('failed');
    expect(done.jobs.find((j) => j.name === 'bad')!.statusReason).toBe('task exited with code 4');
    const kid = done.jobs.find((j) => j.name === 'kid')!;
    expect(kid.status).toBe('failed');
    expect(kid.statusReason).toBe('dependency failed');
    // It did reach the server (native dependency), and the server deleted it: F, no Exit_status.
    expect(kid.nativeId).toMatch(/^\d+\.\S+$/);
    const server = (await pbsServerJobs(env)).find((s) => s.nativeId === kid.nativeId)!;
    expect(server).toMatchObject({ state: 'F', runCount: 0 });
    expect(server.exitStatus).toBeUndefined();
    expect(await bridge.reconciler('lab')!.rt.transport.stat(posix.join(dirOf(kid.id), '.hpcb/started'))).toBeNull();
  });
});
