import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptContext } from '../../../src/domain/adapter.js';
import { BridgeError } from '../../../src/domain/errors.js';
import { parseJobSpec, type JobSpecInput } from '../../../src/domain/jobSpec.js';
import { SLURM_LAUNCHERS, renderDirective, slurmDirectives } from '../../../adapters/slurm/render.js';
import { createSlurmAdapter, slurmAdapter } from '../../../adapters/slurm/index.js';
import { parseJobExitFile } from '../../../src/jobdir/files.js';
import { exitPath, taskStdoutPath } from '../../../src/jobdir/layout.js';
import { read, removeDir, runScript } from '../common/run-script.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

function ctx(extra: Partial<ScriptContext> = {}): ScriptContext {
  return { jobDir: '/scratch/hpcuser/job-42', tag: 'hpcb-42-x7', bridgeJobId: 42, attempt: 1, defaults: {}, ...extra };
}

function directives(input: JobSpecInput, c: ScriptContext = ctx()): string[] {
  return slurmDirectives(parseJobSpec(input), c).map(renderDirective);
}

describe('#SBATCH directives', () => {
  it('a serial job: one task per node with all CPUs, memory in MB, scheduler logs in .hpcb/', () => {
    expect(directives({ tasks: [{ cmd: 'true' }], resources: { cpus: 4, memory: 0.5, walltime: 90 } })).toEqual([
      '#SBATCH --job-name=hpcb-42-x7',
      '#SBATCH --chdir=/scratch/hpcuser/job-42',
      '#SBATCH --output=/scratch/hpcuser/job-42/.hpcb/scheduler.out',
      '#SBATCH --error=/scratch/hpcuser/job-42/.hpcb/scheduler.err',
      '#SBATCH --nodes=1',
      '#SBATCH --ntasks-per-node=1',
      '#SBATCH --cpus-per-task=4',
      '#SBATCH --mem=512M',
      '#SBATCH --time=90',
      '#SBATCH --no-requeue',
      '#SBATCH --export=ALL',
    ]);
  });

  it('an MPI job: ranks per node = procsPerNode, CPUs per rank = cpus / procsPerNode; placement from the spec', () => {
    const got = directives({
      name: 'my run 1',
      tasks: [{ cmd: './a.out', type: 'openmpi', procsPerNode: 4 }],
      resources: { nodes: 2, cpus: 8, memoryPerCpu: 1.5, gpus: 2, disk: 10 },
      queue: 'debug',
      account: 'proj1',
      qos: 'normal',
      reservation: 'maint',
      constraint: 'skylake&ib',
    });
    expect(got).toEqual([
      '#SBATCH --job-name=hpcb-42-x7',
      '#SBATCH --comment="my run 1"',
      '#SBATCH --chdir=/scratch/hpcuser/job-42',
      '#SBATCH --output=/scratch/hpcuser/job-42/.hpcb/scheduler.out',
      '#SBATCH --error=/scratch/hpcuser/job-42/.hpcb/scheduler.err',
      '#SBATCH --nodes=2',
      '#SBATCH --ntasks-per-node=4',
      '#SBATCH --cpus-per-task=2',
      '#SBATCH --mem-per-cpu=1536M',
      '#SBATCH --gres=gpu:2',
      '#SBATCH --tmp=10240M',
      '#SBATCH --partition=debug',
      '#SBATCH --account=proj1',
      '#SBATCH --qos=normal',
      '#SBATCH --reservation=maint',
      '#SBATCH --constraint=skylake&ib',
      '#SBATCH --no-requeue',
      '#SBATCH --export=ALL',
    ]);
  });

  it('an MPI task without procsPerNode uses one rank per CPU', () => {
    expect(directives({ tasks: [{ cmd: 'x', type: 'srun' }], resources: { cpus: 6 } })).toContain('#SBATCH --ntasks-per-node=6');
    expect(directives({ tasks: [{ cmd: 'x', type: 'srun' }], resources: { cpus: 6 } })).toContain('#SBATCH --cpus-per-task=1');
  });

  it('cluster defaults fill partition/account/qos; the definition wins', () => {
    const c = ctx({ defaults: { queue: 'batch', account: 'lab', qos: 'low' } });
    const got = directives({ tasks: [{ cmd: 'x' }], queue: 'short' }, c);
    expect(got).toContain('#SBATCH --partition=short');
    expect(got).toContain('#SBATCH --account=lab');
    expect(got).toContain('#SBATCH --qos=low');
  });

  it('arrays get %a log names and an index range; dependencies always come with --kill-on-invalid-dep', () => {
    const got = directives({ tasks: [{ cmd: 'x' }] }, ctx({ array: { size: 10, parallel: 3 }, afterOk: ['12', '13_4'] }));
    expect(got).toContain('#SBATCH --output=/scratch/hpcuser/job-42/.hpcb/scheduler.%a.out');
    expect(got).toContain('#SBATCH --error=/scratch/hpcuser/job-42/.hpcb/scheduler.%a.err');
    expect(got).toContain('#SBATCH --array=0-9%3');
    expect(got).toContain('#SBATCH --dependency=afterok:12:13_4');
    expect(got).toContain('#SBATCH --kill-on-invalid-dep=yes');
    expect(directives({ tasks: [{ cmd: 'x' }] }, ctx({ array: { size: 1 }, afterOk: [] }))).toContain('#SBATCH --array=0-0');
    expect(directives({ tasks: [{ cmd: 'x' }] }, ctx({ afterOk: [] })).some((l) => l.includes('dependency'))).toBe(false);
  });

  it('quotes values with spaces for sbatch, refuses what cannot be a directive', () => {
    expect(renderDirective(['--comment', "it's #1"])).toBe(`#SBATCH --comment="it's #1"`);
    expect(renderDirective(['--chdir', '/scratch/a b'])).toBe('#SBATCH --chdir="/scratch/a b"');
    expect(() => renderDirective(['--comment', 'a\n#SBATCH --uid=0'])).toThrow(BridgeError);
    expect(() => renderDirective(['--comment', 'a"b'])).toThrow(BridgeError);
    expect(() => slurmDirectives(parseJobSpec({ tasks: [{ cmd: 'x' }] }), ctx({ afterOk: ['12;rm'] }))).toThrow(BridgeError);
    expect(() => slurmDirectives(parseJobSpec({ tasks: [{ cmd: 'x' }] }), ctx({ tag: 'bad tag' }))).toThrow(BridgeError);
    expect(() => slurmDirectives(parseJobSpec({ tasks: [{ cmd: 'x' }] }), ctx({ jobDir: '/scratch/100%' }))).toThrow(/pattern/);
  });
});

describe('launchers', () => {
  const spec = parseJobSpec({
    resources: { nodes: 2, cpus: 8 },
    tasks: [{ cmd: 'a', type: 'srun', procsPerNode: 2 }, { cmd: 'b', type: 'openmpi', procsPerNode: 4 }, { cmd: 'c', type: 'mpich' }, { cmd: 'd', type: 'intelmpi', procsPerNode: 1 }],
  });
  it('srun passes counts and --cpus-per-task explicitly (22.05 srun does not inherit it); MPI flavours use mpirun -np', () => {
    expect(SLURM_LAUNCHERS.srun('srun', spec.tasks[0]!, spec)).toEqual(['srun', '--nodes=2', '--ntasks=4', '--ntasks-per-node=2', '--cpus-per-task=1']);
    expect(SLURM_LAUNCHERS.openmpi('openmpi', spec.tasks[1]!, spec)).toEqual(['mpirun', '-np', '8']);
    expect(SLURM_LAUNCHERS.mpich('mpich', spec.tasks[2]!, spec)).toEqual(['mpirun', '-np', '16']);
    expect(SLURM_LAUNCHERS.intelmpi('intelmpi', spec.tasks[3]!, spec)).toEqual(['mpirun', '-np', '2']);
  });

  it('can be replaced per cluster', () => {
    const a = createSlurmAdapter({ launchers: { openmpi: (_t, task, s) => ['srun', '--mpi=pmix', `--ntasks=${s.resources.nodes * (task.procsPerNode ?? 1)}`] } });
    const text = a.renderScript(spec, ctx());
    expect(text).toContain("exec srun --mpi=pmix --ntasks=8 bash -c b");
    expect(text).toContain("exec mpirun -np 16 bash -c c");
  });
});

describe('the whole script', () => {
  it('starts with the shebang and directives, then the runner', () => {
    const text = slurmAdapter.renderScript(parseJobSpec({ tasks: [{ cmd: 'echo hi' }] }), ctx());
    const head = text.split('\n');
    expect(head[0]).toBe('#!/bin/bash');
    expect(head[1]).toBe('#SBATCH --job-name=hpcb-42-x7');
    // sbatch stops reading #SBATCH at the first command line: every directive comes before it.
    const firstCommand = head.findIndex((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(head.slice(firstCommand).some((l) => l.startsWith('#SBATCH'))).toBe(false);
    expect(text).toContain("exec bash -c 'echo hi'");
    expect(createSlurmAdapter({ shebang: '#!/bin/bash -l' }).renderScript(parseJobSpec({ tasks: [{ cmd: 'x' }] }), ctx()).startsWith('#!/bin/bash -l\n')).toBe(true);
    expect(() => createSlurmAdapter({ shebang: '#!/bin/sh' }).renderScript(parseJobSpec({ tasks: [{ cmd: 'x' }] }), ctx())).toThrow(BridgeError);
  });

  it('runs under bash as an array element would under Slurm (SLURM_ARRAY_TASK_ID), srun faked on PATH', () => {
    const dir = tempDir('hpcb-slurm-job-');
    mkdirSync(join(dir, '.hpcb'));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // A stand-in srun: records its options, then runs the command after them.
    writeFileSync(join(bin, 'srun'), '#!/bin/bash\nprintf "%s\\n" "$@" > "$HPCB_JOB_DIR/srun.args"\nwhile [ "${1#--}" != "$1" ]; do shift; done\nexec "$@"\n');
    chmodSync(join(bin, 'srun'), 0o755);
    const spec = parseJobSpec({
      resources: { cpus: 2 },
      tasks: [{ cmd: 'echo "element $HPCB_ARRAY_INDEX of job $SLURM_JOB_ID"', type: 'srun' }, { cmd: 'echo second' }],
    });
    const text = slurmAdapter.renderScript(spec, ctx({ jobDir: dir, array: { size: 4 } }));
    const r = runScript(text, { SLURM_JOB_ID: '77', SLURM_ARRAY_TASK_ID: '3', PATH: `${bin}:${process.env.PATH}` });
    expect(r.status).toBe(0);
    expect(read(dir, taskStdoutPath(0, 3))).toBe('element 3 of job 77\n');
    expect(read(dir, taskStdoutPath(1, 3))).toBe('second\n');
    expect(parseJobExitFile(read(dir, exitPath(3)))).toEqual({ exitCode: 0, failedTask: -1 });
    expect(read(dir, 'srun.args').split('\n').slice(0, 4)).toEqual(['--nodes=1', '--ntasks=2', '--ntasks-per-node=2', '--cpus-per-task=1']);
  });
});

/** sbatch 22.05's own reading of a script's directives, without a controller (`sbatch -vv`). */
function sbatchParsedOptions(script: string): { options: Record<string, string>; stderr: string } {
  const dir = tempDir('hpcb-sbatch-');
  // A controller address nobody listens on, with 1 s timeouts: sbatch parses and prints its
  // options, then fails fast with "Unable to contact slurm controller". GresTypes is needed
  // because sbatch checks --gres against it before submitting ("Invalid generic resource (gres)
  // specification", exit 1, on a cluster without GPUs configured).
  writeFileSync(join(dir, 'slurm.conf'), 'ClusterName=parse\nGresTypes=gpu\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=9\nMessageTimeout=1\nTCPTimeout=1\nNodeName=n1 CPUs=1\nPartitionName=p Nodes=n1\n');
  writeFileSync(join(dir, 'job.sh'), script);
  const r = spawnSync('sbatch', ['-vv', '--parsable', '--', join(dir, 'job.sh')], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SLURM_CONF: join(dir, 'slurm.conf') },
    encoding: 'utf8',
    timeout: 20_000,
  });
  const options: Record<string, string> = {};
  let inside = false;
  for (const line of r.stderr.split('\n')) {
    if (line === 'sbatch: defined options') inside = true;
    else if (line === 'sbatch: end of defined options') inside = false;
    else if (inside) {
      const m = /^sbatch: (\S+)\s+: (.*)$/.exec(line);
      if (m && !m[1]!.startsWith('-')) options[m[1]!] = m[2]!;
    }
  }
  return { options, stderr: r.stderr };
}

const hasSbatch = spawnSync('sbatch', ['--version'], { encoding: 'utf8' }).status === 0;

// The sbatch client comes with the test cluster (test/cluster/up.sh). `npm run test:unit` on a
// machine without it skips this block; under CI (where the cluster's global setup has installed
// Slurm before any test runs) a missing sbatch is a failure, never a skip.
describe.skipIf(!hasSbatch && process.env.CI !== 'true')('the real sbatch client accepts the directives (sbatch -vv, no controller)', () => {
  it('reads every directive of a full job as intended', () => {
    const spec = parseJobSpec({
      name: 'weekly run 3/b.c',
      tasks: [{ cmd: './a.out', type: 'openmpi', procsPerNode: 2 }],
      resources: { nodes: 2, cpus: 4, memory: 1.5, walltime: 125, gpus: 1, disk: 2 },
      queue: 'debug',
      account: 'lab',
      qos: 'normal',
      reservation: 'r1',
      constraint: 'a&b|c[1-2]',
    });
    const { options, stderr } = sbatchParsedOptions(slurmAdapter.renderScript(spec, ctx({ jobDir: '/scratch/u/job 42', array: { size: 5, parallel: 2 }, afterOk: ['12', '13_4'] })));
    expect(stderr).toContain('Unable to contact slurm controller');
    expect(options).toEqual({
      account: 'lab',
      array: '0-4%2',
      chdir: '/scratch/u/job 42',
      comment: 'weekly run 3/b.c',
      constraint: 'a&b|c[1-2]',
      'cpus-per-task': '2',
      dependency: 'afterok:12:13_4',
      error: '/scratch/u/job 42/.hpcb/scheduler.%a.err',
      export: 'ALL',
      gres: 'gres:gpu:1',
      'job-name': 'hpcb-42-x7',
      'kill-on-invalid-dep': 'yes',
      mem: '1536',
      'no-requeue': 'no-requeue',
      nodes: '2',
      'ntasks-per-node': '2',
      output: '/scratch/u/job 42/.hpcb/scheduler.%a.out',
      parsable: 'set',
      partition: 'debug',
      qos: 'normal',
      reservation: 'r1',
      time: '02:05:00',
      tmp: '2G',
      verbose: '2',
    });
  });

  it('double quotes keep spaces, # and \' in one directive value', () => {
    const script = ['#!/bin/bash', renderDirective(['--comment', "it's #1 of  2"]), renderDirective(['--chdir', '/tmp/a b']), 'true', ''].join('\n');
    expect(sbatchParsedOptions(script).options).toMatchObject({ comment: "it's #1 of  2", chdir: '/tmp/a b' });
  });

  it('mem-per-cpu for a serial job', () => {
    const spec = parseJobSpec({ tasks: [{ cmd: 'x' }], resources: { cpus: 3, memoryPerCpu: 0.25 } });
    const { options } = sbatchParsedOptions(slurmAdapter.renderScript(spec, ctx()));
    expect(options).toMatchObject({ 'cpus-per-task': '3', 'ntasks-per-node': '1', 'mem-per-cpu': '256', nodes: '1' });
  });
});
