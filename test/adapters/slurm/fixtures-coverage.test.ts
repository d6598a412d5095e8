/**
 * Every Slurm capture is read by a Slurm adapter test in this same run: fixture() notes each read
 * and the file that made it (test/helpers/fixtures-registry.ts); this file runs after the unit
 * project (project unit-coverage). A capture merely named in a comment or a string does not count.
 */
import { describe, expect, it } from 'vitest';
import { fixturesReadInThisRun, listFixtures } from '../../helpers/fixtures.js';

describe('fixture coverage', () => {
  it('every Slurm 22.05 capture and every peers slurm_* capture is read by a Slurm adapter test', () => {
    const read = fixturesReadInThisRun();
    const byUs = (rel: string) => [...(read.get(rel) ?? [])].some((f) => /^test\/adapters\/(slurm|common)\//.test(f));
    const wanted = [
      // 12*: the Torque-compatible wrappers' output, which test/adapters/pbs covers (a Slurm
      // test that reads one anyway is held to it).
      ...listFixtures('slurm-22.05').filter((f) => !/\/12[a-z]+-/.test(f) || byUs(f)),
      ...listFixtures('peers').filter((f) => /\/slurm_/.test(f) || f.endsWith('scheduler_stderr_messages.txt')),
    ];
    expect(wanted.length).toBeGreaterThan(90);
    expect(wanted.filter((rel) => !byUs(rel))).toEqual([]);
  });
});
