/**
 * The engine knows no scheduler: everything a scheduler says reaches it through an adapter's
 * neutral fields (src/domain/adapter.ts), so a new scheduler is a new adapter, never an engine
 * change. This fails if a scheduler's name, command or native word appears anywhere under
 * src/engine/, comments included.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ENGINE = join(import.meta.dirname, '../../src/engine');
const WORDS = /slurm|pbs|torque|squeue|sacct|sbatch|scancel|qsub|qstat|qdel|DependencyNeverSatisfied/i;
/** Native state codes are upper case; the engine's own `pending` state is not one. */
const NATIVE_CODES = /\bPENDING\b/;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('the engine is scheduler-neutral', () => {
  it('has modules to check', () => {
    expect(files(ENGINE).filter((f) => f.endsWith('.ts')).length).toBeGreaterThan(10);
  });

  it('names no scheduler, scheduler command or native state anywhere under src/engine', () => {
    const found: string[] = [];
    for (const f of files(ENGINE)) {
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (WORDS.test(line) || NATIVE_CODES.test(line)) found.push(`${f.slice(ENGINE.length + 1)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});
