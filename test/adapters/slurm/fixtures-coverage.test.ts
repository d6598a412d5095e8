import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { listFixtures } from '../../helpers/fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The text of every test in this adapter's folders. */
function testSources(): string {
  const dirs = [here, join(here, '..', 'common')];
  return dirs
    .flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.test.ts')).map((f) => readFileSync(join(d, f), 'utf8')))
    .join('\n');
}

describe('fixture coverage', () => {
  it('every Slurm 22.05 capture and every peers slurm_* capture is read by a Slurm adapter test', () => {
    const sources = testSources();
    const wanted = [
      // 12*: the Torque-compatible wrappers' output, which test/adapters/pbs covers.
      ...listFixtures('slurm-22.05').filter((f) => !/\/12[a-z]+-/.test(f) || sources.includes(f)),
      ...listFixtures('peers').filter((f) => /\/slurm_/.test(f) || f.endsWith('scheduler_stderr_messages.txt')),
    ];
    expect(wanted.length).toBeGreaterThan(90);
    const missing = wanted.filter((rel) => !sources.includes(rel));
    expect(missing).toEqual([]);
  });
});
