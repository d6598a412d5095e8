/**
 * Native arrays and dependencies on PBS: the adapter capability the engine uses instead of
 * testing scheduler names (SchedulerAdapter.arrays / nativeDependencies / normalizeId).
 *
 * PBS Pro (and a real Torque with -t) list subjobs as `<seq>[<k>].server` under `qstat -t`, so the
 * engine can compute each element's id from qsub's answer `<seq>[].server`. The slurm-wlm-torque
 * wrappers cannot be followed that way: their qstat lists a started element under its own Slurm
 * job id with no index, and every still-pending element under the array's id as one job
 * (12t-qstat-array-elements.txt), so the torque flavor keeps one submission per instance unless
 * a real Torque is configured with `nativeArrays: true`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptContext } from '../../../src/domain/adapter.js';
import { parseJobSpec } from '../../../src/domain/jobSpec.js';
import { parseElementTestimony } from '../../../src/jobdir/evidence.js';
import { normalizePbsId, parsePbsArrayElementId, pbsArrayElementId } from '../../../adapters/pbs/ids.js';
import { createPbsAdapter, PBS_ARRAYS } from '../../../adapters/pbs/index.js';
import { parseStatusResult } from '../../../adapters/pbs/parse.js';
import { SLURM_ARRAYS, slurmAdapter } from '../../../adapters/slurm/index.js';
import { fixture } from '../../helpers/fixtures.js';
import { makeJobDir, removeDir, runScript } from '../common/run-script.js';
import { body as fixtureBody, fromFixture, result } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

function ctx(extra: Partial<ScriptContext> = {}): ScriptContext {
  return { jobDir: '/scratch/alice/hpcb/jobs/42', tag: 'hb0a1b2c-42-1', bridgeJobId: 42, attempt: 1, defaults: {}, ...extra };
}

describe('capabilities by flavor', () => {
  it('PBS Pro runs arrays and dependencies natively; Torque only when told its server is a real Torque', () => {
    const pbspro = createPbsAdapter({ flavor: 'pbspro' });
    // PBS's element names, and arrays split at the server's default max_array_size.
    expect(pbspro.arrays).toEqual({ ...PBS_ARRAYS, maxElements: 10000 });
    expect(pbspro.nativeDependencies).toBe(true);
    const torque = createPbsAdapter({ flavor: 'torque' });
    expect(torque.arrays).toBeUndefined();
    expect(torque.nativeDependencies).toBeUndefined();
    const realTorque = createPbsAdapter({ flavor: 'torque', nativeArrays: true, nativeDependencies: true });
    expect(realTorque.arrays).toEqual({ ...PBS_ARRAYS, maxElements: 10000 });
    expect(realTorque.nativeDependencies).toBe(true);
    // Slurm names elements <array>_<k>.
    expect(slurmAdapter.arrays).toEqual({ ...SLURM_ARRAYS, maxElements: 1001 });
    expect(SLURM_ARRAYS.elementId('123', 4)).toBe('123_4');
    expect(SLURM_ARRAYS.parseElementId('123_4')).toEqual({ arrayId: '123', index: 4 });
    expect(SLURM_ARRAYS.parseElementId('123')).toBeUndefined();
  });
});

describe('element ids', () => {
  it('qsub\'s array id → each subjob id, and back, with or without a server suffix', () => {
    expect(pbsArrayElementId('3001[].pbs01', 2)).toBe('3001[2].pbs01');
    expect(pbsArrayElementId('3001[]', 0)).toBe('3001[0]');
    expect(pbsArrayElementId('3001', 7)).toBe('3001[7]');
    expect(parsePbsArrayElementId('3001[2].pbs01')).toEqual({ arrayId: '3001[].pbs01', index: 2 });
    expect(parsePbsArrayElementId('3001[]')).toBeUndefined();
    expect(parsePbsArrayElementId('3001.pbs01')).toBeUndefined();
    expect(parsePbsArrayElementId('8868')).toBeUndefined(); // the wrappers' element ids carry no index
    expect(() => pbsArrayElementId('not-an-id', 1)).toThrow(/not a PBS array job id/);
  });

  it('PBS Pro qstat -t (regressions/pbspro_qstat_fxj_truncated_array.txt): every subjob is where the engine looks for it', () => {
    const obs = parseStatusResult(fromFixture('regressions/pbspro_qstat_fxj_truncated_array.txt'), 'pbspro').observations;
    const elements = obs.filter((o) => o.arrayIndex !== undefined);
    expect(elements.length).toBeGreaterThanOrEqual(2);
    for (const o of elements) {
      // The array id qsub printed for this array is the element's arrayId.
      expect(o.arrayId).toBe('3001[].pbs01');
      expect(PBS_ARRAYS.elementId(o.arrayId!, o.arrayIndex!)).toBe(o.nativeId);
      expect(PBS_ARRAYS.parseElementId(o.nativeId)).toEqual({ arrayId: '3001[].pbs01', index: o.arrayIndex });
      // PBS Pro keeps the array's name on its subjobs: the bridge's tag finds the array.
      expect(o.name).toBe('hb0a1b2c-25-1');
    }
  });

  it('Torque qstat -x -t (peers/torque_qstat_x_xml_fyrd.txt): subjobs printed by another server still match through normalizeId', () => {
    const adapter = createPbsAdapter({ flavor: 'torque', nativeArrays: true });
    const obs = adapter.parseStatus(result(fixture('peers/torque_qstat_x_xml_fyrd.txt')));
    const el19 = obs.find((o) => o.arrayIndex === 19)!;
    expect(el19.nativeId).toBe('673175[19].fruster.stanford.edu');
    // qsub answered with the array on superserver; the element the engine computes names that server.
    const computed = adapter.arrays!.elementId('673175[].superserver.stanford.edu', 19);
    expect(computed).toBe('673175[19].superserver.stanford.edu');
    expect(computed).not.toBe(el19.nativeId);
    expect(adapter.normalizeId!(computed)).toBe(adapter.normalizeId!(el19.nativeId));
    expect(normalizePbsId(computed)).toBe('673175[19]');
    // Torque's -<index> name suffix is removed, so elements carry the array's name (the tag).
    expect(el19.name).toBe('t.sh');
  });

  it('the wrappers (slurm-22.05/12t-qstat-array-elements.txt): no element carries an index, and pending ones hide under the array id', () => {
    const obs = createPbsAdapter({ flavor: 'torque' }).parseStatus(fromFixture('slurm-22.05/12t-qstat-array-elements.txt'));
    expect(obs.map((o) => [o.nativeId, o.nativeState])).toEqual([
      ['8868', 'R'],
      ['8869', 'R'],
      ['8867', 'Q'], // elements 2 and 3, both pending, as one job
    ]);
    expect(obs.every((o) => o.arrayIndex === undefined && o.arrayId === undefined && o.name === 'hbarrprobe')).toBe(true);
    // What the elements themselves saw (12u): PBS_ARRAY_INDEX is set (spank_pbs), PBS_ARRAYID is
    // empty, and PBS_JOBID is the element's Slurm id, not <array>[<k>]; element 3 ran as 8867.
    const env = fixtureBody('slurm-22.05/12u-array-element-env.txt').trim().split('\n');
    expect(env[0]).toMatch(/^PBS_JOBID=8868 PBS_ARRAYID= PBS_ARRAY_INDEX=0 /);
    expect(env[3]).toMatch(/^PBS_JOBID=8867 PBS_ARRAYID= PBS_ARRAY_INDEX=3 /);
    expect(env.map((l) => PBS_ARRAYS.parseElementId(/PBS_JOBID=(\S*)/.exec(l)![1]!))).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe('what the engine asks of PBS for a workflow', () => {
  it('a carrier is one -J (PBS Pro) or -t (Torque) array with the %p throttle', () => {
    const spec = parseJobSpec({ tasks: [{ cmd: 'true' }] });
    const pro = createPbsAdapter({ flavor: 'pbspro' }).renderScript(spec, ctx({ array: { size: 12, parallel: 3 } }));
    expect(pro).toContain('\n#PBS -J 0-11%3\n');
    const tq = createPbsAdapter({ flavor: 'torque', nativeArrays: true }).renderScript(spec, ctx({ array: { size: 12, parallel: 3 } }));
    expect(tq).toContain('\n#PBS -t 0-11%3\n');
  });

  it('a dependency on a parent array is afterok on the array id (PBS Pro), afterokarray on Torque', () => {
    const spec = parseJobSpec({ tasks: [{ cmd: 'true' }] });
    const pro = createPbsAdapter({ flavor: 'pbspro' }).renderScript(spec, ctx({ afterOk: ['3001[].pbs01', '3005.pbs01'] }));
    expect(pro).toContain('\n#PBS -W depend=afterok:3001[].pbs01:3005.pbs01\n');
    const tq = createPbsAdapter({ flavor: 'torque' }).renderScript(spec, ctx({ afterOk: ['3001[].srv', '3005.srv'] }));
    expect(tq).toContain('\n#PBS -W depend=afterok:3005.srv,afterokarray:3001[].srv\n');
  });

  it('the wrappers turn -W depend=afterok into sbatch --dependency, and refuse afterokarray:<id>[] (12v)', () => {
    const text = fixture('slurm-22.05/12v-qsub-depend.txt');
    expect(text).toContain('--dependency=afterok:8548:8549 a.sh');
    expect(text).toMatch(/== d1\n[\s\S]*Job dependency problem[\s\S]*\[exit status: 1\]/);
    // An array's plain id stands for all its elements.
    expect(text).toContain('Dependency=afterok:8548_*');
  });

  it('each subjob records its own id, from which a lost answer is recovered as the array id', () => {
    const dir = makeJobDir('hpcb-pbs-array-');
    dirs.push(dir);
    const adapter = createPbsAdapter({ flavor: 'pbspro' });
    const script = adapter.renderScript(parseJobSpec({ tasks: [{ cmd: 'true' }] }), ctx({ jobDir: dir, array: { size: 4 } }));
    expect(runScript(script, { PBS_ARRAY_INDEX: '2', PBS_JOBID: '3001[2].pbs01' }).status).toBe(0);
    const recorded = readFileSync(join(dir, '.hpcb/2/native_id'), 'utf8').trim();
    expect(recorded).toBe('3001[2].pbs01');
    const out = `@@HPCB-EL 7 ${recorded}\n@@HPCB-EL 9 \n@@HPCB-EL 11 8868\n@@HPCB-EL-END\n`;
    const arrayOf = (id: string) => adapter.arrays!.parseElementId(id)?.arrayId;
    // 9: no element started; 11: an id without an index (the wrappers) proves nothing about an array.
    expect(parseElementTestimony(out, [7, 9, 11], arrayOf)).toEqual(new Map([[7, '3001[].pbs01'], [9, ''], [11, '']]));
    expect(parseElementTestimony(`@@HPCB-EL 7 ${recorded}\n`, [7], arrayOf)).toEqual(new Map([[7, undefined]]));
  });

  it('a single job records PBS_JOBID (Torque behind the wrappers: SLURM_JOB_ID when spank_pbs is off)', () => {
    const spec = parseJobSpec({ tasks: [{ cmd: 'true' }] });
    const a = makeJobDir('hpcb-pbs-id-');
    const b = makeJobDir('hpcb-pbs-id-');
    dirs.push(a, b);
    expect(runScript(createPbsAdapter({ flavor: 'pbspro' }).renderScript(spec, ctx({ jobDir: a })), { PBS_JOBID: '40.pbs' }).status).toBe(0);
    expect(readFileSync(join(a, '.hpcb/native_id'), 'utf8')).toBe('40.pbs\n');
    expect(runScript(createPbsAdapter({ flavor: 'torque' }).renderScript(spec, ctx({ jobDir: b })), { PBS_JOBID: '', SLURM_JOB_ID: '29' }).status).toBe(0);
    expect(readFileSync(join(b, '.hpcb/native_id'), 'utf8')).toBe('29\n');
  });
});
