/**
 * Exactly-once for native arrays when the carrier's submit answer is lost and the whole array
 * has already left the queue: the carrier has no `.hpcb/native_id` of its own, only its elements
 * wrote `<array>_<k>` under `.hpcb/<k>/`. The engine must adopt the array from those files
 * instead of submitting it a second time.
 *
 * The scheduler here is a stand-in with Slurm's name and script (so the bridge builds a carrier),
 * run on the local transport: its "sbatch" runs every element to the end before answering, its
 * "squeue" never lists anything (a controller that already forgot the array), and its first
 * answer is lost the way sbatch loses one (socket timeout after the controller accepted the job).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SLURM_ARRAYS, renderSlurmScript } from '../../adapters/slurm/index.js';
import { Bridge } from '../../src/bridge.js';
import type { SchedulerAdapter } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import { parseElementTestimony } from '../../src/jobdir/evidence.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import { silentLogger } from '../../src/logging.js';
import { buildSettings } from '../../src/settings/load.js';
import { fakeSbatch } from '../helpers/fakeSbatch.js';

let bridge: Bridge | undefined;
afterEach(async () => {
  await bridge?.close();
  bridge = undefined;
});

const FAKE_SBATCH = fakeSbatch('id=$(( $(date +%s%N) / 1000 % 1000000000 ))');

function arrayScheduler(state: { submits: number; lost: number }): SchedulerAdapter {
  return {
    name: 'slurm',
    arrays: SLURM_ARRAYS,
    nativeDependencies: true,
    renderScript: (spec, ctx) => renderSlurmScript(spec, ctx),
    submitCommand: (path, ctx) => ['bash', '-c', FAKE_SBATCH, 'fake-sbatch', path, String(ctx.array?.size ?? 0)],
    parseSubmit(r) {
      state.submits++;
      const id = /Submitted batch job (\d+)/.exec(r.stdout)?.[1];
      if (!id) throw new BridgeError('SUBMIT_REJECTED', `fake sbatch failed: ${r.stderr}`);
      if (state.lost === 0) {
        state.lost++;
        throw new BridgeError('SCHEDULER_ERROR', 'Socket timed out on send/recv operation', { transient: true });
      }
      return id;
    },
    statusCommand: () => ['true'],
    parseStatus: () => [],
    cancelCommand: () => ['true'],
    parseCancel: () => undefined,
  };
}

describe('array carrier adoption', () => {
  it('adopts an array whose submit answer was lost after every element ran, from the elements\' own files: each instance runs once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-wf-adopt-'));
    const settings = buildSettings({ dataDir }, [
      { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 0.2, lostGraceSeconds: 2 } },
    ]);
    const state = { submits: 0, lost: 0 };
    bridge = Bridge.open(settings, { logger: silentLogger(), adapterFor: () => arrayScheduler(state) });
    bridge.start();
    const wf = bridge.submitWorkflow('alice', {
      jobs: [{ name: 'sweep', tasks: [{ cmd: 'echo "run $x" >> runs.log' }] }],
      factories: [{ type: 'parameterSweep', jobs: ['sweep'], parameters: [{ name: 'x', start: 1, end: 4, step: 1 }] }],
    });
    const done = await bridge.waitWorkflow(wf.id, 60_000);
    expect(done.status).toBe('completed');
    expect(state.lost).toBe(1);
    // One sbatch reached the scheduler; the lost answer was never followed by a second one.
    expect(state.submits).toBe(1);
    const rt = bridge.reconciler('here')!.rt;
    const runs = done.jobs.map((j) => readFileSync(join(jobDirFor(rt.scratchRoot, bridge!.store.instanceId(), j.id), 'runs.log'), 'utf8'));
    expect(runs).toEqual(['run 1\n', 'run 2\n', 'run 3\n', 'run 4\n']);
    const carrier = bridge.store.workflowJobs(wf.id).find((r) => r.kind === 'array')!;
    expect(bridge.store.events(carrier.id).some((e) => /its elements recorded the array id/.test(e.reason ?? ''))).toBe(true);
    expect(done.jobs.map((j) => j.nativeId)).toEqual(done.jobs.map((j) => `${carrier.nativeId}_${j.index}`));
  });

  it('reads the array id from element testimony, and concludes nothing from cut-short output', () => {
    const full = '@@HPCB-EL 7 123_4\n@@HPCB-EL 9 \n@@HPCB-EL 11 garbage\n@@HPCB-EL-END\n';
    expect(parseElementTestimony(full, [7, 9, 11])).toEqual(new Map([[7, '123'], [9, ''], [11, '']]));
    // No end marker: the element files may exist but were not read; never taken as "none started".
    expect(parseElementTestimony('@@HPCB-EL 7 123_4\n@@HPCB-EL 9 \n', [7, 9])).toEqual(new Map([[7, undefined], [9, undefined]]));
  });
});
