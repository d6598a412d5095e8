/**
 * A factory larger than the scheduler's largest array (`NativeArrays.maxElements`) becomes several
 * arrays: each a carrier of its own with elements numbered from 0, every instance run once as the
 * element the bridge recorded for it, and `maximumParallel` shared out among the arrays (or left
 * to the engine when there are more arrays than it allows at once).
 *
 * The scheduler is a stand-in with Slurm's name and script on the local transport: its "sbatch"
 * runs every element to the end before answering; its "squeue" lists nothing.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SLURM_ARRAYS, renderSlurmScript } from '../../adapters/slurm/index.js';
import { Bridge } from '../../src/bridge.js';
import type { SchedulerAdapter } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import { silentLogger } from '../../src/logging.js';
import { buildSettings } from '../../src/settings/load.js';
import { fakeSbatch } from '../helpers/fakeSbatch.js';

let bridge: Bridge | undefined;
afterEach(async () => {
  await bridge?.close();
  bridge = undefined;
});

const FAKE_SBATCH = fakeSbatch('id=$3');

function chunkingScheduler(submitted: number[]): SchedulerAdapter {
  let next = 1000;
  return {
    name: 'slurm',
    arrays: { ...SLURM_ARRAYS, maxElements: 4 },
    nativeDependencies: true,
    renderScript: (spec, ctx) => renderSlurmScript(spec, ctx),
    submitCommand: (path, ctx) => {
      if ((ctx.array?.size ?? 0) > 4) throw new BridgeError('INVALID_DEFINITION', `array of ${ctx.array!.size} elements is above the limit`);
      submitted.push(ctx.array?.size ?? 0);
      return ['bash', '-c', FAKE_SBATCH, 'fake-sbatch', path, String(ctx.array?.size ?? 0), String((next += 1000))];
    },
    parseSubmit(r) {
      const id = /Submitted batch job (\d+)/.exec(r.stdout)?.[1];
      if (!id) throw new BridgeError('SUBMIT_REJECTED', `fake sbatch failed: ${r.stderr}`);
      return id;
    },
    statusCommand: () => ['true'],
    parseStatus: () => [],
    cancelCommand: () => ['true'],
    parseCancel: () => undefined,
  };
}

function open(submitted: number[]): Bridge {
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-wf-chunks-'));
  const settings = buildSettings({ dataDir }, [
    { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 0.2, lostGraceSeconds: 2 } },
  ]);
  return Bridge.open(settings, { logger: silentLogger(), adapterFor: () => chunkingScheduler(submitted) });
}

const sweep = (n: number, policies?: Record<string, unknown>) => ({
  jobs: [{ name: 'p', tasks: [{ cmd: 'echo "run $x" >> runs.log' }] }],
  factories: [{ type: 'parameterSweep', jobs: ['p'], parameters: [{ name: 'x', start: 1, end: n, step: 1 }] }],
  ...(policies ? { policies } : {}),
});

describe('factories above the largest array', () => {
  it('runs 10 instances as arrays of 4, 3 and 3, each instance once as its recorded element', async () => {
    const submitted: number[] = [];
    bridge = open(submitted);
    bridge.start();
    const wf = bridge.submitWorkflow('alice', sweep(10));
    const carriers = bridge.store.workflowJobs(wf.id).filter((r) => r.kind === 'array');
    expect(carriers.map((c) => [c.wfIndex, c.arraySize])).toEqual([[0, 4], [4, 3], [7, 3]]);
    const done = await bridge.waitWorkflow(wf.id, 60_000);
    expect(done.status).toBe('completed');
    expect(submitted.sort()).toEqual([3, 3, 4]);
    const rt = bridge.reconciler('here')!.rt;
    const runs = done.jobs.map((j) => readFileSync(join(jobDirFor(rt.scratchRoot, bridge!.store.instanceId(), j.id), 'runs.log'), 'utf8'));
    expect(runs).toEqual(done.jobs.map((j) => `run ${j.index + 1}\n`));
    const rows = bridge.store.workflowJobs(wf.id);
    for (const j of done.jobs) {
      const carrier = rows.find((r) => r.id === rows.find((x) => x.id === j.id)!.arrayJobId)!;
      expect(j.nativeId).toBe(`${carrier.nativeId}_${j.index - carrier.wfIndex!}`);
    }
    // Each carrier closes once its own elements ended (a tick after the last one).
    const closed = () => bridge!.store.workflowJobs(wf.id).filter((r) => r.kind === 'array' && r.state === 'completed').length;
    for (let i = 0; i < 100 && closed() < 3; i++) await new Promise((r) => setTimeout(r, 100));
    expect(closed()).toBe(3);
  });

  it('shares maximumParallel out among the arrays, or leaves it to the engine when there are more arrays than it allows', () => {
    bridge = open([]);
    const shared = bridge.submitWorkflow('alice', sweep(10, { maximumParallel: 7 }));
    expect(bridge.store.workflowJobs(shared.id).filter((r) => r.kind === 'array').map((c) => c.arrayParallel)).toEqual([2, 2, 2]);
    const engine = bridge.submitWorkflow('alice', sweep(10, { maximumParallel: 2 }));
    const rows = bridge.store.workflowJobs(engine.id);
    expect(rows.filter((r) => r.kind === 'array')).toEqual([]);
    expect(rows.every((r) => r.arrayJobId === null)).toBe(true);
    const one = bridge.submitWorkflow('alice', sweep(4, { maximumParallel: 2 }));
    expect(bridge.store.workflowJobs(one.id).filter((r) => r.kind === 'array').map((c) => [c.wfIndex, c.arraySize, c.arrayParallel])).toEqual([[0, 4, 2]]);
  });
});
