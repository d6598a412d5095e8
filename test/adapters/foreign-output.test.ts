/**
 * Output from a scheduler we do not support (LSF's bjobs) fed to our status parsers, as could
 * happen on a misconfigured cluster: it must never be read as job states, least of all as
 * finished jobs. Whatever a parser makes of it, no observation may carry an id from it.
 */
import { describe, expect, it } from 'vitest';
import { directAdapter } from '../../adapters/direct/index.js';
import { createPbsAdapter } from '../../adapters/pbs/index.js';
import { slurmAdapter } from '../../adapters/slurm/index.js';
import type { Observation } from '../../src/domain/adapter.js';
import { fixture } from '../helpers/fixtures.js';

const bjobs = fixture('peers/lsf_bjobs_aiida.txt');
const r = { exitCode: 0, signal: null, stdout: bjobs, stderr: '', durationMs: 1 };
const lsfIds = new Set(bjobs.split('\n').map((l) => l.trim().split('|')[0]).filter(Boolean));

function observe(parse: () => Observation[]): Observation[] {
  try {
    return parse();
  } catch {
    return []; // refusing the output is fine too
  }
}

describe('foreign scheduler output', () => {
  it.each([
    ['slurm', () => slurmAdapter.parseStatus(r)],
    ['pbs (pbspro)', () => createPbsAdapter({ flavor: 'pbspro' }).parseStatus(r)],
    ['pbs (torque)', () => createPbsAdapter({ flavor: 'torque' }).parseStatus(r)],
    ['direct', () => directAdapter.parseStatus(r)],
  ])('%s does not turn bjobs lines into observations', (_name, parse) => {
    expect(lsfIds.size).toBeGreaterThan(5);
    const obs = observe(parse);
    expect(obs.filter((o) => lsfIds.has(o.nativeId))).toEqual([]);
    expect(obs.filter((o) => o.state === 'done')).toEqual([]);
  });
});
