/**
 * Every PBS/Torque capture is read by a PBS adapter test in this same run: fixture() notes each
 * read and the file that made it (test/helpers/fixtures-registry.ts); this file runs after the
 * unit project (project unit-coverage). A capture merely named in a source file does not count.
 */
import { describe, expect, it } from 'vitest';
import { fixtureSource, fixturesReadInThisRun, listFixtures } from '../../helpers/fixtures.js';

describe('fixture coverage', () => {
  it('every PBS/Torque capture, every wrapper capture (slurm-22.05/12*), every real OpenPBS capture and every PBS regression is read by a PBS test', () => {
    const read = fixturesReadInThisRun();
    const byUs = (rel: string) => [...(read.get(rel) ?? [])].some((f) => f.startsWith('test/adapters/pbs/'));
    const wanted = [
      ...listFixtures('peers').filter((f) => /\/(pbs_|pbspro_|torque_)/.test(f) || f.endsWith('scheduler_stderr_messages.txt')),
      ...listFixtures('slurm-22.05').filter((f) => /\/12[a-z]-/.test(f)),
      ...listFixtures('regressions').filter((f) => /\/(pbs|pbspro|torque)_/.test(f)),
      ...listFixtures('openpbs-23.06'),
    ];
    expect(wanted.length).toBeGreaterThanOrEqual(8 + 18 + 8);
    expect(wanted.filter((rel) => !byUs(rel))).toEqual([]);
  });

  it('every PBS regression capture says on its first line what it models', () => {
    for (const rel of listFixtures('regressions').filter((f) => /\/(pbs|pbspro|torque)_/.test(f))) {
      expect(fixtureSource(rel), rel).toMatch(/^# models: .+/);
    }
  });
});
