/**
 * Workflows on the real Slurm over the real sshd: factories run as ONE native job array (one
 * sbatch), dependencies as scheduler afterok with --kill-on-invalid-dep=yes, each instance with
 * its own status and outputs.
 */
import { posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import type { WorkflowView } from '../../src/engine/workflowStatus.js';
import { labSettings, onLogin, until } from './support/lab.js';

let bridge: Bridge;
let env: ReturnType<typeof labSettings>['env'];

beforeAll(() => {
  const lab = labSettings();
  env = lab.env;
  bridge = Bridge.open(lab.settings);
  bridge.start();
});

afterAll(async () => {
  await bridge?.close();
});

async function stdoutOf(id: number): Promise<string> {
  const rec = bridge.reconciler('lab')!;
  const buf = await rec.rt.transport.readRange(posix.join(jobDirFor(rec.rt.scratchRoot, bridge.store.instanceId(), id), '.hpcb/task.0.stdout'), 0, 1 << 20);
  return buf ? buf.toString('utf8') : '';
}

async function finish(id: number): Promise<WorkflowView> {
  const v = await bridge.waitWorkflow(id, 240_000);
  expect(['completed', 'failed', 'deleted'], `workflow ${id} should have ended (is ${v.status})`).toContain(v.status);
  return v;
}

const job = (name: string, cmd: string, extra: Record<string, unknown> = {}) => ({ name, tasks: [{ cmd }], resources: { cpus: 1, memory: 0.1, walltime: 5 }, ...extra });

describe('workflows on Slurm over SSH', () => {
  it('runs a 2-D sweep of 100 instances as one sbatch, each instance with its own correct result', async () => {
    const counters = bridge.reconciler('lab')!.counters;
    const before = { ...counters };
    const wf = bridge.submitWorkflow('alice', {
      name: 'sweep-100',
      jobs: [job('grid', 'echo "$a $b $(awk -v a=$a -v b=$b \'BEGIN { print a * b }\')"')],
      factories: [{ type: 'parameterSweep', jobs: ['grid'], parameters: [{ name: 'a', start: 1, end: 10, step: 1 }, { name: 'b', start: 0.1, end: 1, step: 0.1 }] }],
      policies: { maximumParallel: 50 },
    });
    expect(wf.progress.total).toBe(100);
    const done = await finish(wf.id);
    expect(done.status).toBe('completed');
    expect(done.progress.completed).toBe(100);
    // ONE submission: one submit command, one scheduler job, and every instance is an element of it.
    expect(counters.jobsSubmitted - before.jobsSubmitted).toBe(1);
    expect(counters.submitCommands - before.submitCommands).toBe(1);
    const arrayIds = new Set(done.jobs.map((j) => j.nativeId!.split('_')[0]));
    expect(arrayIds.size).toBe(1);
    expect(done.jobs.map((j) => j.nativeId)).toEqual(done.jobs.map((j) => `${[...arrayIds][0]}_${j.index}`));
    // Slurm agrees: every element COMPLETED. The bridge learns each end from the element's own
    // record and exit file, so Slurm's accounting may still be closing the last elements then.
    const completedInSacct = async () => (await onLogin(env, `sacct -n -X -P -j ${[...arrayIds][0]} -o JobID,State`)).trim().split('\n').filter((l) => /COMPLETED/.test(l)).length;
    await until('sacct to list every element COMPLETED', async () => ((await completedInSacct()) === 100 ? true : undefined), 60_000).catch(() => undefined);
    expect(await completedInSacct()).toBe(100);
    // Each of the 100 results, computed independently here.
    for (const j of done.jobs) {
      const a = Number(j.parameters.a);
      const b = Number(j.parameters.b);
      expect(j.parameters.b).toMatch(/^(0\.\d|1)$/);
      const [sa, sb, prod] = (await stdoutOf(j.id)).trim().split(' ');
      expect([sa, sb]).toEqual([j.parameters.a, j.parameters.b]);
      expect(Number(prod)).toBeCloseTo(a * b, 6);
    }
  });

  it('runs a 3-stage DAG where each stage reads its parent\'s output, with zip and repeat stages', async () => {
    const wf = bridge.submitWorkflow('alice', {
      jobs: [
        job('make', 'printf "alpha\\n" > a.txt; printf "beta\\n" > b.txt; echo 21 > n.txt'),
        // Stage 2 (a zip over file names) reads stage 1's files from the directory the bridge names.
        job('count', 'cat "$HPCB_PARENT_make/$file" | tr a-z A-Z; wc -c < "$HPCB_PARENT_make/$file" > len'),
        // Stage 3 (a repeat) reads every instance of stage 2.
        job('sum', 'total=0; for d in $HPCB_PARENT_count; do total=$((total + $(cat "$d/len"))); done; echo "$HPCB_INSTANCE_INDEX $total $(( $(cat $HPCB_PARENT_make/n.txt) * 2 ))"'),
      ],
      // sum reads make's n.txt as well, so make is named as its parent too.
      dependencies: { make: ['count', 'sum'], count: ['sum'] },
      factories: [
        { type: 'zip', jobs: ['count'], parameters: [{ name: 'file', values: ['a.txt', 'b.txt'] }] },
        { type: 'repeat', jobs: ['sum'], number: 2 },
      ],
    });
    expect(wf.progress.total).toBe(5);
    const done = await finish(wf.id);
    expect(done.status).toBe('completed');
    const get = (n: string) => done.jobs.filter((j) => j.name === n);
    expect(await Promise.all(get('count').map((j) => stdoutOf(j.id)))).toEqual(['ALPHA\n', 'BETA\n']);
    expect(await Promise.all(get('sum').map((j) => stdoutOf(j.id)))).toEqual(['0 11 42\n', '1 11 42\n']);
  });

  it('never runs the children of a failed parent (dependency failed), and a rerun runs only those', async () => {
    const flag = `${bridge.reconciler('lab')!.rt.scratchRoot}/flag-${Date.now()}`;
    const wf = bridge.submitWorkflow('alice', {
      jobs: [job('ok', 'echo fine'), job('bad', `test -f '${flag}' || exit 5; echo fixed`), job('child', 'echo child'), job('leaf', 'echo leaf')],
      dependencies: { bad: ['child'], child: ['leaf'] },
      factories: [{ type: 'repeat', jobs: ['child'], number: 3 }],
    });
    const failed = await finish(wf.id);
    expect(failed.status).toBe('failed');
    const get = (v: WorkflowView, n: string) => v.jobs.filter((j) => j.name === n);
    expect(get(failed, 'ok')[0]!.status).toBe('completed');
    expect(get(failed, 'bad')[0]!.statusReason).toBe('task exited with code 5');
    for (const j of [...get(failed, 'child'), ...get(failed, 'leaf')]) {
      expect(j.status).toBe('failed');
      expect(j.statusReason).toBe('dependency failed');
      // Never ran: the runner never wrote its start stamp in the instance's directory.
      const rec = bridge.reconciler('lab')!;
      expect(await rec.rt.transport.stat(posix.join(jobDirFor(rec.rt.scratchRoot, bridge.store.instanceId(), j.id), '.hpcb/started'))).toBeNull();
    }

    await onLogin(env, `touch '${flag}'`);
    const rerun = bridge.rerunWorkflow(wf.id, 'alice');
    expect(get(rerun, 'ok')[0]!.id).toBe(get(failed, 'ok')[0]!.id);
    const after = await finish(wf.id);
    expect(after.status).toBe('completed');
    expect(await stdoutOf(get(after, 'bad')[0]!.id)).toBe('fixed\n');
    expect(await Promise.all(get(after, 'child').map((j) => stdoutOf(j.id)))).toEqual(['child\n', 'child\n', 'child\n']);
  });
});
