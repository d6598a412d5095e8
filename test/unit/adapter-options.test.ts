/**
 * A cluster file's `adapter:` block reaches the adapter: every option docs/SCHEDULERS.md names
 * changes what the adapter renders, runs or reads, and an option the adapter does not declare is a
 * configuration problem naming the file and the key.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ScriptContext, SchedulerAdapter } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import { parseJobSpec, type JobSpecInput } from '../../src/domain/jobSpec.js';
import { adapterFor } from '../../src/adapters.js';
import { buildSettings, loadSettings } from '../../src/settings/load.js';

const ctx = (extra: Partial<ScriptContext> = {}): ScriptContext => ({ jobDir: '/scratch/a/jobs/42', tag: 'hb0a1b2c-42-1', bridgeJobId: 42, attempt: 1, defaults: {}, ...extra });

function adapter(raw: Record<string, unknown>): SchedulerAdapter {
  const s = buildSettings({}, [{ file: 'c.yaml', raw: { name: 'c', scratchRoot: '/scratch/a', ...raw } }]);
  return adapterFor(s.clusters[0]!);
}
const torque = (adapterBlock?: Record<string, unknown>) => adapter({ scheduler: 'pbs', flavor: 'torque', ...(adapterBlock ? { adapter: adapterBlock } : {}) });
const pbspro = (adapterBlock?: Record<string, unknown>) => adapter({ scheduler: 'pbs', flavor: 'pbspro', ...(adapterBlock ? { adapter: adapterBlock } : {}) });
const slurm = (adapterBlock?: Record<string, unknown>) => adapter({ scheduler: 'slurm', ...(adapterBlock ? { adapter: adapterBlock } : {}) });
const direct = (adapterBlock?: Record<string, unknown>) => adapter({ scheduler: 'direct', ...(adapterBlock ? { adapter: adapterBlock } : {}) });

const render = (a: SchedulerAdapter, spec: JobSpecInput = { tasks: [{ cmd: 'true' }] }, c: Partial<ScriptContext> = {}) => a.renderScript(parseJobSpec(spec), ctx(c));

function problemsOf(fn: () => unknown): { file: string; key: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BridgeError);
    return (e as BridgeError).context.problems as { file: string; key: string; message: string }[];
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('adapter options from the cluster file', () => {
  it('torqueStatusFormat picks the status command', () => {
    expect(torque().statusCommand('alice').slice(0, 2)).toEqual(['bash', '-c']);
    expect(torque({ torqueStatusFormat: 'xml' }).statusCommand('alice')).toEqual(['qstat', '-x', '-t']);
    expect(torque({ torqueStatusFormat: 'text' }).statusCommand('alice')).toEqual(['qstat', '-f', '-1']);
  });

  it('arrayParallelLimit: false drops the %p of an array directive', () => {
    const arr = { array: { size: 4, parallel: 2 } };
    expect(render(pbspro(), undefined, arr)).toContain('#PBS -J 0-3%2\n');
    expect(render(pbspro({ arrayParallelLimit: false }), undefined, arr)).toContain('#PBS -J 0-3\n');
  });

  it('maxJobNameLength lets a Torque server that takes longer names keep the tag whole', () => {
    const long = { tag: 'hb0a1b2c-123456-1', bridgeJobId: 123456 };
    expect(render(torque(), undefined, long)).toMatch(/^#PBS -N hc[0-9a-z]+-1$/m);
    expect(render(torque({ maxJobNameLength: 64 }), undefined, long)).toContain('#PBS -N hb0a1b2c-123456-1\n');
  });

  it('nativeArrays and nativeDependencies turn on Torque arrays and afterok, in the adapter block or at the top level', () => {
    expect(torque().arrays).toBeUndefined();
    expect(torque().nativeDependencies).toBeUndefined();
    const on = torque({ nativeArrays: true, nativeDependencies: true });
    expect(on.arrays).toBeDefined();
    expect(on.nativeDependencies).toBe(true);
    expect(pbspro({ nativeArrays: false }).arrays).toBeUndefined();
    expect(pbspro({ nativeDependencies: false }).nativeDependencies).toBeUndefined();
    const legacy = adapter({ scheduler: 'pbs', flavor: 'torque', nativeArrays: true, nativeDependencies: true });
    expect(legacy.arrays).toBeDefined();
    expect(legacy.nativeDependencies).toBe(true);
  });

  it("maxArraySize: the largest array a factory is split by (defaults: Slurm's 1001, PBS Pro's 10000)", () => {
    expect(slurm().arrays?.maxElements).toBe(1001);
    expect(slurm({ maxArraySize: 100 }).arrays?.maxElements).toBe(100);
    expect(pbspro().arrays?.maxElements).toBe(10000);
    expect(pbspro({ maxArraySize: 500 }).arrays?.maxElements).toBe(500);
    expect(torque({ nativeArrays: true, maxArraySize: 64 }).arrays?.maxElements).toBe(64);
  });

  it('accounting: slurmdbd runs sacct, jobcomp runs sacct -c, none runs nothing', () => {
    expect(slurm().accountingCommand!(['12'], 'alice')).not.toContain('-c');
    expect(slurm({ accounting: 'slurmdbd' }).accountingCommand!(['12'], 'alice')).toEqual(slurm().accountingCommand!(['12'], 'alice'));
    const jobcomp = slurm({ accounting: 'jobcomp' }).accountingCommand!(['12'], 'alice');
    expect(jobcomp[0]).toBe('sacct');
    expect(jobcomp).toContain('-c');
    const none = slurm({ accounting: 'none' });
    expect(none.accountingCommand).toBeUndefined();
    expect(none.parseAccounting).toBeUndefined();
  });

  it('shebang: a login shell for sites whose modules live in login profiles', () => {
    expect(render(slurm()).split('\n')[0]).toBe('#!/bin/bash');
    expect(render(slurm({ shebang: '#!/bin/bash -l' })).split('\n')[0]).toBe('#!/bin/bash -l');
  });

  it('sidecarGraceSeconds and containerRuntime reach the runner of every adapter', () => {
    const spec: JobSpecInput = { tasks: [{ cmd: 'true', image: 'docker://alpine' }] };
    for (const make of [slurm, pbspro, direct]) {
      expect(render(make(), spec)).toContain('hpcb_grace=5\n');
      expect(render(make({ sidecarGraceSeconds: 30 }), spec)).toContain('hpcb_grace=30\n');
      expect(render(make(), spec)).toContain('apptainer exec');
      const sing = render(make({ containerRuntime: 'singularity' }), spec);
      expect(sing).toContain('singularity exec');
      expect(sing).not.toContain('apptainer exec');
    }
  });
});

describe('adapter option problems', () => {
  it('an unknown adapter option is reported by the loader with its file and key, beside the other problems', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-adapter-'));
    mkdirSync(join(dir, 'clusters.d'));
    writeFileSync(join(dir, 'hpc-bridge.yaml'), 'logLevel: chatty\n');
    writeFileSync(join(dir, 'clusters.d', 'p.yaml'), 'name: p\nscheduler: pbs\nflavor: torque\nscratchRoot: /s\nadapter:\n  torqueStatusFormat: json\n  queueFormat: wide\n');
    writeFileSync(join(dir, 'clusters.d', 's.yaml'), 'name: s\nscheduler: slurm\nscratchRoot: /s\nadapter:\n  torqueStatusFormat: xml\n');
    const problems = problemsOf(() => loadSettings(join(dir, 'hpc-bridge.yaml')));
    expect(problems.map((p) => `${p.file.replace(dir + '/', '')}: ${p.key}: ${p.message}`).sort()).toEqual([
      'clusters.d/p.yaml: adapter.queueFormat: unknown key',
      'clusters.d/p.yaml: adapter.torqueStatusFormat: Invalid option: expected one of "auto"|"xml"|"text"',
      'clusters.d/s.yaml: adapter.torqueStatusFormat: unknown key',
      'hpc-bridge.yaml: logLevel: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"',
    ]);
  });

  it('values are checked: a job-name limit below the tag length, a shebang that is not bash, a wrong type', () => {
    const keys = (raw: Record<string, unknown>) =>
      problemsOf(() => buildSettings({}, [{ file: 'c.yaml', raw: { name: 'c', scratchRoot: '/s', ...raw } }])).map((p) => `${p.key}: ${p.message}`);
    expect(keys({ scheduler: 'pbs', flavor: 'torque', adapter: { maxJobNameLength: 8 } })[0]).toMatch(/^adapter\.maxJobNameLength: /);
    expect(keys({ scheduler: 'slurm', adapter: { shebang: '#!/bin/sh' } })).toEqual(['adapter.shebang: must run bash, e.g. "#!/bin/bash" or "#!/bin/bash -l"']);
    expect(keys({ scheduler: 'slurm', adapter: { sidecarGraceSeconds: 'long' } })).toEqual(['adapter.sidecarGraceSeconds: Invalid input: expected number, received string']);
    expect(keys({ scheduler: 'pbs', flavor: 'pbspro', adapter: { torqueStatusFormat: 'xml' } })).toEqual(['adapter.torqueStatusFormat: only applies to flavor torque']);
    expect(keys({ scheduler: 'pbs', flavor: 'torque', nativeArrays: true, adapter: { nativeArrays: true } })).toEqual(['adapter.nativeArrays: is also set at the top level of the file (nativeArrays); keep one']);
    expect(keys({ scheduler: 'direct', adapter: { accounting: 'none' } })).toEqual(['adapter.accounting: unknown key']);
  });
});
