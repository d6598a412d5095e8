import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixtureSource, listFixtures } from '../../helpers/fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));

function testSources(): string {
  return readdirSync(here)
    .filter((f) => f.endsWith('.test.ts') && f !== 'fixtures-coverage.test.ts')
    .map((f) => readFileSync(join(here, f), 'utf8'))
    .join('\n');
}

describe('fixture coverage', () => {
  it('every PBS/Torque capture, every wrapper capture (slurm-22.05/12*), every real OpenPBS capture and every PBS regression is read by a PBS test', () => {
    const sources = testSources();
    const wanted = [
      ...listFixtures('peers').filter((f) => /\/(pbs_|pbspro_|torque_)/.test(f) || f.endsWith('scheduler_stderr_messages.txt')),
      ...listFixtures('slurm-22.05').filter((f) => /\/12[a-z]-/.test(f)),
      ...listFixtures('regressions').filter((f) => /\/(pbs|pbspro|torque)_/.test(f)),
      ...listFixtures('openpbs-23.06'),
    ];
    expect(wanted.length).toBeGreaterThanOrEqual(8 + 18 + 8);
    expect(wanted.filter((rel) => !sources.includes(rel))).toEqual([]);
  });

  it('every PBS regression capture says on its first line what it models', () => {
    for (const rel of listFixtures('regressions').filter((f) => /\/(pbs|pbspro|torque)_/.test(f))) {
      expect(fixtureSource(rel), rel).toMatch(/^# models: .+/);
    }
  });
});
