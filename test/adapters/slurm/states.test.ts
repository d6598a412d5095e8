import { describe, expect, it } from 'vitest';
import { SLURM_STATES, lookupSlurmState, mapSlurmState, normalizeSlurmState } from '../../../adapters/slurm/states.js';

/** Every state of Slurm 22.05 (squeue(1) JOB STATE CODES) and what the engine must see. */
const EXPECTED: [code: string, name: string, state: string, final?: string][] = [
  ['PD', 'PENDING', 'pending'],
  ['CF', 'CONFIGURING', 'pending'],
  ['R', 'RUNNING', 'running'],
  ['CG', 'COMPLETING', 'running'],
  ['CD', 'COMPLETED', 'done', 'completed'],
  ['F', 'FAILED', 'done', 'failed'],
  ['CA', 'CANCELLED', 'done', 'cancelled'],
  ['TO', 'TIMEOUT', 'done', 'timeout'],
  ['NF', 'NODE_FAIL', 'done', 'node_fail'],
  ['OOM', 'OUT_OF_MEMORY', 'done', 'out_of_memory'],
  ['PR', 'PREEMPTED', 'done', 'preempted'],
  ['BF', 'BOOT_FAIL', 'done', 'boot_fail'],
  ['DL', 'DEADLINE', 'done', 'deadline'],
  ['RQ', 'REQUEUED', 'pending'],
  ['RS', 'RESIZING', 'running'],
  ['RH', 'REQUEUE_HOLD', 'held'],
  ['RF', 'REQUEUE_FED', 'pending'],
  ['RD', 'RESV_DEL_HOLD', 'held'],
  ['S', 'SUSPENDED', 'suspended'],
  ['ST', 'STOPPED', 'suspended'],
  ['SE', 'SPECIAL_EXIT', 'held'],
  ['SI', 'SIGNALING', 'running'],
  ['SO', 'STAGE_OUT', 'running'],
  ['RV', 'REVOKED', 'done', 'unknown'],
];

describe('Slurm state table', () => {
  it('has exactly the expected codes, each once', () => {
    expect(SLURM_STATES.map((s) => s.code).sort()).toEqual(EXPECTED.map((e) => e[0]).sort());
    expect(new Set(SLURM_STATES.map((s) => s.name)).size).toBe(SLURM_STATES.length);
  });

  it.each(EXPECTED)('%s / %s → %s %s', (code, name, state, final) => {
    const want = final ? { state, final } : { state };
    expect(mapSlurmState(code)).toEqual(want);
    expect(mapSlurmState(name)).toEqual(want);
    expect(mapSlurmState(name.toLowerCase())).toEqual(want);
    expect(lookupSlurmState(code)?.name).toBe(name);
  });

  it('strips sacct decorations: "CANCELLED by 1000", "CANCELLED+"', () => {
    expect(normalizeSlurmState('CANCELLED by 1000')).toBe('CANCELLED');
    expect(normalizeSlurmState('CANCELLED by 0')).toBe('CANCELLED');
    expect(normalizeSlurmState(' CANCELLED+ ')).toBe('CANCELLED');
    expect(mapSlurmState('CANCELLED by 1001')).toEqual({ state: 'done', final: 'cancelled' });
    expect(mapSlurmState('CANCELLED+')).toEqual({ state: 'done', final: 'cancelled' });
  });

  it('maps unknown codes to unknown, never to success', () => {
    for (const raw of ['', 'X', 'DONE', 'COMPLETE', 'C', 'E', 'COMPLETED_OK', 'RUNNING by 1', '?']) {
      expect(mapSlurmState(raw)).toEqual({ state: 'unknown' });
    }
  });

  it('uses the reason for holds and dependencies that can never be satisfied', () => {
    expect(mapSlurmState('PENDING', 'JobHeldUser')).toEqual({ state: 'held' });
    expect(mapSlurmState('PD', 'JobHeldAdmin')).toEqual({ state: 'held' });
    expect(mapSlurmState('PENDING', 'Dependency')).toEqual({ state: 'pending' });
    expect(mapSlurmState('PENDING', 'DependencyNeverSatisfied')).toEqual({ state: 'done', final: 'dependency' });
    expect(mapSlurmState('CANCELLED', 'DependencyNeverSatisfied')).toEqual({ state: 'done', final: 'dependency' });
    expect(mapSlurmState('COMPLETED', 'DependencyNeverSatisfied')).toEqual({ state: 'done', final: 'completed' });
    expect(mapSlurmState('RUNNING', 'JobHeldUser')).toEqual({ state: 'running' });
  });
});
