import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptContext } from '../../../src/domain/adapter.js';
import { parseJobSpec, type JobSpecInput } from '../../../src/domain/jobSpec.js';
import { HPCB_DIR } from '../../../src/jobdir/layout.js';
import { decodePbsJobName, normalizePbsId, parsePbsJobId, pbsJobName } from '../../../adapters/pbs/ids.js';
import { createPbsAdapter } from '../../../adapters/pbs/index.js';
import { PBS_LAUNCHERS, pbsWalltime, renderPbsDirectives, renderPbsScript } from '../../../adapters/pbs/render.js';
import { fixture, fixtureSource } from '../../helpers/fixtures.js';
import { makeJobDir, removeDir, runScript } from '../common/run-script.js';
import { body, thrown } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

function ctx(extra: Partial<ScriptContext> = {}): ScriptContext {
  return { jobDir: '/scratch/alice/hpcb/jobs/42', tag: 'hb0a1b2c-42-1', bridgeJobId: 42, attempt: 1, defaults: {}, ...extra };
}

function directives(input: JobSpecInput, flavor: 'pbspro' | 'torque', c: Partial<ScriptContext> = {}): string[] {
  return renderPbsDirectives(parseJobSpec(input), ctx(c), { flavor });
}

describe('#PBS directives', () => {
  it('PBS Pro: a serial job with the defaults of the definition', () => {
    expect(directives({ tasks: [{ cmd: 'echo hi' }] }, 'pbspro')).toEqual([
      '#PBS -N hb0a1b2c-42-1',
      '#PBS -S /bin/bash',
      '#PBS -l select=1:ncpus=1',
      '#PBS -o /scratch/alice/hpcb/jobs/42/.hpcb/scheduler.out',
      '#PBS -e /scratch/alice/hpcb/jobs/42/.hpcb/scheduler.err',
      '#PBS -r n',
    ]);
  });

  it('Torque: the same job', () => {
    expect(directives({ tasks: [{ cmd: 'echo hi' }] }, 'torque')).toEqual([
      '#PBS -N hb0a1b2c-42-1',
      '#PBS -S /bin/bash',
      '#PBS -l nodes=1:ppn=1',
      '#PBS -o /scratch/alice/hpcb/jobs/42/.hpcb/scheduler.out',
      '#PBS -e /scratch/alice/hpcb/jobs/42/.hpcb/scheduler.err',
      '#PBS -r n',
    ]);
  });

  const big: JobSpecInput = {
    tasks: [{ cmd: 'prep' }, { cmd: './solver', type: 'openmpi', procsPerNode: 2 }],
    resources: { nodes: 2, cpus: 8, memory: 16, walltime: 1500, gpus: 1 },
    queue: 'long',
    account: 'proj7',
    constraint: 'bigmem&ib',
  };

  it('PBS Pro: MPI over two nodes, memory, GPUs, walltime over a day, features, array, dependencies', () => {
    expect(directives(big, 'pbspro', { array: { size: 10, parallel: 3 }, afterOk: ['100.pbs01', '101[].pbs01'] })).toEqual([
      '#PBS -N hb0a1b2c-42-1',
      '#PBS -S /bin/bash',
      '#PBS -q long',
      '#PBS -A proj7',
      '#PBS -l select=2:ncpus=8:mpiprocs=2:mem=16384mb:ngpus=1:bigmem=True:ib=True',
      '#PBS -l place=scatter',
      '#PBS -l walltime=25:00:00',
      '#PBS -o /scratch/alice/hpcb/jobs/42/.hpcb/scheduler.^array_index^.out',
      '#PBS -e /scratch/alice/hpcb/jobs/42/.hpcb/scheduler.^array_index^.err',
      // No -r n: OpenPBS refuses a non-rerunnable array (openpbs-23.06/40_*).
      '#PBS -J 0-9%3',
      '#PBS -W depend=afterok:100.pbs01:101[].pbs01',
    ]);
  });

  it('Torque: the same job (total memory, ppn, gpus, properties, -t, afterokarray)', () => {
    expect(directives(big, 'torque', { array: { size: 10, parallel: 3 }, afterOk: ['100.t01', '101[].t01'] })).toEqual([
      '#PBS -N hb0a1b2c-42-1',
      '#PBS -S /bin/bash',
      '#PBS -q long',
      '#PBS -A proj7',
      '#PBS -l nodes=2:ppn=8:gpus=1:bigmem:ib',
      '#PBS -l mem=32768mb',
      '#PBS -l walltime=25:00:00',
      '#PBS -o /scratch/alice/hpcb/jobs/42/.hpcb/',
      '#PBS -e /scratch/alice/hpcb/jobs/42/.hpcb/',
      '#PBS -r n',
      '#PBS -t 0-9%3',
      '#PBS -W depend=afterok:100.t01,afterokarray:101[].t01',
    ]);
  });

  it('memory per CPU becomes memory per chunk/node; cluster defaults fill queue and account', () => {
    const spec: JobSpecInput = { tasks: [{ cmd: 'x' }], resources: { cpus: 4, memoryPerCpu: 0.5 } };
    expect(directives(spec, 'pbspro', { defaults: { queue: 'workq', account: 'a1' } })).toContain('#PBS -l select=1:ncpus=4:mem=2048mb');
    expect(directives(spec, 'pbspro', { defaults: { queue: 'workq', account: 'a1' } }).slice(2, 4)).toEqual(['#PBS -q workq', '#PBS -A a1']);
    expect(directives(spec, 'torque')).toContain('#PBS -l mem=2048mb');
  });

  it('the %p array limit can be turned off for PBS Pro servers older than 2020.1', () => {
    const lines = renderPbsDirectives(parseJobSpec({ tasks: [{ cmd: 'x' }] }), ctx({ array: { size: 4, parallel: 2 } }), { flavor: 'pbspro', arrayParallelLimit: false });
    expect(lines).toContain('#PBS -J 0-3');
  });

  it('what PBS cannot say becomes a comment: qos, disk, priority', () => {
    const lines = directives({ tasks: [{ cmd: 'x' }], qos: 'high', resources: { disk: 10 }, policies: { priority: 5 } }, 'pbspro');
    expect(lines.filter((l) => l.startsWith('# '))).toEqual([
      '# hpc-bridge: qos "high" not applied: PBS has no QOS',
      '# hpc-bridge: resources.disk not applied: PBS has no portable scratch-disk resource',
      '# hpc-bridge: policies.priority not applied on PBS',
    ]);
    // A default qos from the cluster config cannot inject a line either.
    const injected = directives({ tasks: [{ cmd: 'x' }] }, 'pbspro', { defaults: { qos: 'a\n#PBS -q evil' } });
    expect(injected.every((l) => !l.includes('\n'))).toBe(true);
  });

  it('reservations: a queue on PBS Pro, refused on Torque', () => {
    expect(directives({ tasks: [{ cmd: 'x' }], reservation: 'R123' }, 'pbspro')).toContain('#PBS -q R123');
    expect(thrown(() => directives({ tasks: [{ cmd: 'x' }], reservation: 'R123', queue: 'workq' }, 'pbspro')).code).toBe('INVALID_DEFINITION');
    const e = thrown(() => directives({ tasks: [{ cmd: 'x' }], reservation: 'R123' }, 'torque'));
    expect(e.code).toBe('INVALID_DEFINITION');
    expect(e.context['field']).toBe('reservation');
  });

  it('refuses constraints PBS cannot express, job directories PBS would misread, and bad dependency ids', () => {
    expect(thrown(() => directives({ tasks: [{ cmd: 'x' }], constraint: 'a|b' }, 'torque')).context['field']).toBe('constraint');
    expect(thrown(() => directives({ tasks: [{ cmd: 'x' }] }, 'pbspro', { jobDir: '/scratch/my jobs/1' })).code).toBe('INVALID_CONFIG');
    expect(thrown(() => directives({ tasks: [{ cmd: 'x' }] }, 'pbspro', { jobDir: '/scratch/host:x/1' })).code).toBe('INVALID_CONFIG');
    expect(thrown(() => directives({ tasks: [{ cmd: 'x' }] }, 'pbspro', { afterOk: ['1.s\n#PBS -q x'] })).code).toBe('INTERNAL');
    expect(thrown(() => directives({ tasks: [{ cmd: 'x' }] }, 'pbspro', { defaults: { queue: 'a b' } })).code).toBe('INVALID_CONFIG');
  });

  it('walltime', () => {
    expect(pbsWalltime(1)).toBe('00:01:00');
    expect(pbsWalltime(90)).toBe('01:30:00');
    expect(pbsWalltime(60 * 24 * 366)).toBe('8784:00:00');
  });
});

describe('job names carry the tag', () => {
  it('PBS Pro keeps the tag; Torque keeps it up to 15 characters and re-encodes longer ones reversibly', () => {
    expect(pbsJobName('hb0a1b2c-42-1', 'pbspro')).toBe('hb0a1b2c-42-1');
    expect(pbsJobName('hb0a1b2c-999-1', 'torque')).toBe('hb0a1b2c-999-1');
    const long = 'hb0a1b2c-123456-12';
    const short = pbsJobName(long, 'torque');
    expect(short.length).toBeLessThanOrEqual(15);
    expect(short).toMatch(/^hc[0-9a-z]{5}/);
    expect(decodePbsJobName(short, 'torque')).toBe(long);
    expect(pbsJobName(long, 'pbspro')).toBe(long);
    for (const tag of ['hbffffff-2176782335-35', 'hb000000-10000-1', 'hb00abcd-99999-3']) {
      const n = pbsJobName(tag, 'torque');
      expect(n.length, tag).toBeLessThanOrEqual(15);
      expect(decodePbsJobName(n, 'torque')).toBe(tag);
    }
  });

  it('refuses a tag that cannot be a PBS name or cannot fit, rather than truncating it', () => {
    expect(thrown(() => pbsJobName('1abc', 'pbspro')).code).toBe('INTERNAL');
    expect(thrown(() => pbsJobName('hb0a1b2c-99999999999-1', 'torque')).code).toBe('INVALID_CONFIG');
    expect(thrown(() => pbsJobName('some-long-custom-tag', 'torque')).code).toBe('INVALID_CONFIG');
    expect(pbsJobName('some-long-custom-tag', 'torque', 64)).toBe('some-long-custom-tag');
  });

  it('Torque array elements are named "<name>-<index>"; PBS Pro subjobs are not', () => {
    expect(decodePbsJobName('t.sh-19', 'torque', 19)).toBe('t.sh');
    expect(decodePbsJobName('hb0a1b2c-42-1-3', 'torque', 3)).toBe('hb0a1b2c-42-1');
    expect(decodePbsJobName('hb0a1b2c-42-1', 'pbspro', 1)).toBe('hb0a1b2c-42-1');
    expect(decodePbsJobName(undefined, 'torque')).toBeUndefined();
  });

  it('ids', () => {
    expect(parsePbsJobId('123[4].server.example')).toEqual({ seq: '123', index: 4, isArray: false, server: 'server.example' });
    expect(parsePbsJobId('29')).toEqual({ seq: '29', isArray: false });
    expect(parsePbsJobId('12[]')).toEqual({ seq: '12', isArray: true });
    expect(parsePbsJobId('x.y')).toBeUndefined();
    expect(normalizePbsId('673175[19].fruster.stanford.edu')).toBe('673175[19]');
    expect(normalizePbsId('673175[].superserver.stanford.edu')).toBe('673175[]');
    expect(normalizePbsId('40.pbs')).toBe('40');
  });
});

describe('what the wrappers on the test cluster do with these directives', () => {
  it('slurm-22.05/00-jobscripts.txt + 12f-scontrol-of-qsub-job.txt: our resource lines are the ones sbatch honoured', () => {
    const pbsSh = body('slurm-22.05/00-jobscripts.txt').split('==> jobs/pbs.sh')[1]!;
    const theirs = pbsSh.split('\n').filter((l) => l.startsWith('#PBS '));
    const ours = directives({ tasks: [{ cmd: 'x' }], resources: { cpus: 1, memory: 200 / 1024, walltime: 2 }, queue: 'debug' }, 'torque');
    for (const line of ['#PBS -l walltime=00:02:00', '#PBS -l nodes=1:ppn=1', '#PBS -l mem=200mb', '#PBS -q debug']) {
      expect(theirs).toContain(line);
      expect(ours).toContain(line);
    }
    const job = body('slurm-22.05/12f-scontrol-of-qsub-job.txt');
    expect(job).toContain('JobName=pbsjob');
    expect(job).toContain('TimeLimit=00:02:00');
    expect(job).toContain('Partition=debug');
    expect(job).toContain('TRES=cpu=1,mem=200M,node=1');
    // ...but #PBS -o/-e were overridden by the wrapper's own -o/-e: the runner writes the task logs.
    expect(theirs).toContain('#PBS -o out/pbsjob.out');
    expect(job).toContain('StdOut=/home/hpcuser/pbs.sh.o29');
  });

  it('slurm-22.05/12a-qsub-sbatchline.txt: qsub always adds -e/-o, and -v on the command line drops the environment', () => {
    const [plain, withArgs] = body('slurm-22.05/12a-qsub-sbatchline.txt').trim().split('\n');
    expect(plain).toBe('/usr/bin/sbatch -e pbs.sh.e%A -o pbs.sh.o%A jobs/pbs.sh');
    expect(fixtureSource('slurm-22.05/12a-qsub-sbatchline.txt')).toContain('-l walltime=00:05:00,nodes=1:ppn=2,mem=1gb');
    expect(withArgs).toContain('-N1 -n2 -t5 --export=none,A=1,B=2 --mem=1024M');
    // Hence the adapter renders no -v, and on Torque repeats -o/-e on qsub's command line so that
    // the wrappers do not replace them with <script>.o%A/<script>.e%A in the job directory.
    const script = createPbsAdapter({ flavor: 'torque' }).renderScript(parseJobSpec({ tasks: [{ cmd: 'x' }] }), ctx({ env: { A: '1' } }));
    expect(script).not.toMatch(/^#PBS -[vV]/m);
    expect(script).toContain('#PBS -o /scratch/alice/hpcb/jobs/42/.hpcb/scheduler.out');
    expect(createPbsAdapter({ flavor: 'torque' }).submitCommand('job.pbs', ctx())).toEqual([
      'qsub',
      '-o',
      '/scratch/alice/hpcb/jobs/42/.hpcb/scheduler.out',
      '-e',
      '/scratch/alice/hpcb/jobs/42/.hpcb/scheduler.err',
      'job.pbs',
    ]);
    // Array elements keep the wrappers' per-element names (sbatch wants a file pattern, not a directory).
    expect(createPbsAdapter({ flavor: 'torque' }).submitCommand('job.pbs', ctx({ array: { size: 3 } }))).toEqual(['qsub', 'job.pbs']);
    expect(createPbsAdapter({ flavor: 'pbspro' }).submitCommand('job.pbs', ctx())).toEqual(['qsub', 'job.pbs']);
  });

  it('slurm-22.05/12i-qsub-array-t.txt: both -t (Torque) and -J (PBS Pro) become --array', () => {
    expect(fixtureSource('slurm-22.05/12i-qsub-array-t.txt')).toMatch(/-t 1-3 .*-J 1-3/);
    const out = body('slurm-22.05/12i-qsub-array-t.txt').trim().split('\n');
    expect(out).toEqual([
      "/usr/bin/sbatch -e pbs.sh.e%A.%a -o pbs.sh.o%A.%a --array='1-3' jobs/pbs.sh",
      "/usr/bin/sbatch -e pbs.sh.e%A.%a -o pbs.sh.o%A.%a --array='1-3' jobs/pbs.sh",
    ]);
    const spec = parseJobSpec({ tasks: [{ cmd: 'x' }] });
    expect(renderPbsDirectives(spec, ctx({ array: { size: 3 } }), { flavor: 'torque' })).toContain('#PBS -t 0-2');
    expect(renderPbsDirectives(spec, ctx({ array: { size: 3 } }), { flavor: 'pbspro' })).toContain('#PBS -J 0-2');
  });

  it('slurm-22.05/12m-pbs-output.txt and 12r: PBS_* are empty without spank_pbs; #PBS -v is lost to qsub -v', () => {
    const env = (line: string) => Object.fromEntries(line.trim().split(' ').map((kv) => kv.split('=') as [string, string]));
    const plain = env(body('slurm-22.05/12m-pbs-output.txt').split('\n').find((l) => l.startsWith('PBS_JOBID='))!);
    expect(plain).toEqual({ PBS_JOBID: '', PBS_O_WORKDIR: '', SLURM_JOB_ID: '29', FOO: 'bar', PWD: '/home/hpcuser' });
    const spank = env(body('slurm-22.05/12r-qsub-with-spank-pbs-exit5.txt').split('\n').find((l) => l.startsWith('PBS_JOBID='))!);
    expect(spank).toMatchObject({ PBS_JOBID: '41', SLURM_JOB_ID: '41', FOO: '' });
  });
});

describe('the whole script, run by bash as the scheduler would', () => {
  function jobDir(): string {
    const d = makeJobDir('hpcb-pbs-');
    dirs.push(d);
    mkdirSync(join(d, HPCB_DIR));
    return d;
  }

  it('starts with the shebang and the directives, then the common runner', () => {
    const s = createPbsAdapter({ flavor: 'pbspro' }).renderScript(parseJobSpec({ tasks: [{ cmd: 'echo hi' }] }), ctx());
    const lines = s.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines[1]).toBe('#PBS -N hb0a1b2c-42-1');
    // PBS reads directives only up to the first command: every #PBS line comes before it.
    const firstCommand = lines.findIndex((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(lines.slice(firstCommand).some((l) => l.startsWith('#PBS'))).toBe(false);
    expect(s).toContain('# ---- hpc-bridge task runner (adapters/common/runner.ts) ----');
  });

  it('PBS Pro: a plain job runs its task and writes its exit file', () => {
    const dir = jobDir();
    const s = createPbsAdapter({ flavor: 'pbspro' }).renderScript(parseJobSpec({ tasks: [{ cmd: 'echo "hi from $HPCB_JOB_ID"' }] }), ctx({ jobDir: dir }));
    const r = runScript(s, { PBS_JOBID: '7.pbs01' });
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, '.hpcb/task.0.stdout'), 'utf8')).toBe('hi from 42\n');
    expect(readFileSync(join(dir, '.hpcb/exit'), 'utf8')).toBe('0 -1\n');
  });

  it('PBS Pro arrays take the index from PBS_ARRAY_INDEX', () => {
    const dir = jobDir();
    const s = createPbsAdapter({ flavor: 'pbspro' }).renderScript(parseJobSpec({ tasks: [{ cmd: 'echo "el $HPCB_ARRAY_INDEX"' }] }), ctx({ jobDir: dir, array: { size: 4 } }));
    expect(runScript(s, { PBS_ARRAY_INDEX: '3' }).status).toBe(0);
    expect(readFileSync(join(dir, '.hpcb/3/task.0.stdout'), 'utf8')).toBe('el 3\n');
  });

  it('Torque arrays take PBS_ARRAYID, or SLURM_ARRAY_TASK_ID behind the wrappers (PBS_* empty, as in 12m)', () => {
    const spec = parseJobSpec({ tasks: [{ cmd: 'echo "el $HPCB_ARRAY_INDEX"' }] });
    const torque = createPbsAdapter({ flavor: 'torque' });
    const a = jobDir();
    expect(runScript(torque.renderScript(spec, ctx({ jobDir: a, array: { size: 4 } })), { PBS_ARRAYID: '2' }).status).toBe(0);
    expect(readFileSync(join(a, '.hpcb/2/task.0.stdout'), 'utf8')).toBe('el 2\n');
    const b = jobDir();
    expect(runScript(torque.renderScript(spec, ctx({ jobDir: b, array: { size: 4 } })), { PBS_ARRAYID: '', PBS_JOBID: '', SLURM_ARRAY_TASK_ID: '1' }).status).toBe(0);
    expect(readFileSync(join(b, '.hpcb/1/task.0.stdout'), 'utf8')).toBe('el 1\n');
    const c = jobDir();
    expect(runScript(torque.renderScript(spec, ctx({ jobDir: c, array: { size: 4 } })), {}).status).toBe(122);
  });

  it('srun tasks need Slurm: refused on PBS Pro, allowed where the PBS commands wrap Slurm', () => {
    const spec = parseJobSpec({ tasks: [{ cmd: 'hostname', type: 'srun' }] });
    expect(thrown(() => renderPbsScript(spec, ctx(), { flavor: 'pbspro' })).context['field']).toBe('tasks[0].type');
    expect(renderPbsScript(spec, ctx(), { flavor: 'torque' })).toContain('exec srun --nodes=1 --ntasks=1 --ntasks-per-node=1 --cpus-per-task=1 bash -c hostname');
  });
});

describe('the mpirun launcher', () => {
  function fakeMpirun(): { bin: string; log: string } {
    const d = makeJobDir('hpcb-mpi-');
    dirs.push(d);
    mkdirSync(join(d, 'bin'));
    mkdirSync(join(d, '.hpcb'));
    const log = join(d, 'mpirun.log');
    writeFileSync(join(d, 'bin', 'mpirun'), `#!/bin/bash\nprintf '%s\\n' "$@" > ${log}\nif [ "$1" = -machinefile ]; then cat "$2" >> ${log}; fi\n`);
    chmodSync(join(d, 'bin', 'mpirun'), 0o755);
    return { bin: join(d, 'bin'), log };
  }

  function launch(env: Record<string, string>, perNode = 2): { status: number | null; log: string[]; dir: string } {
    const { bin, log } = fakeMpirun();
    const dir = join(bin, '..');
    const spec = parseJobSpec({ tasks: [{ cmd: 'solve', type: 'openmpi', procsPerNode: perNode }], resources: { nodes: 2, cpus: 4 } });
    const argv = [...PBS_LAUNCHERS.openmpi('openmpi', spec.tasks[0]!, spec), 'bash', '-c', 'solve'];
    const r = spawnSync(argv[0]!, argv.slice(1), { env: { PATH: `${bin}:/usr/bin:/bin`, HPCB_JOB_DIR: dir, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: r.status, log: readFileSync(log, 'utf8').trim().split('\n'), dir };
  }

  it('hands mpirun a machine file with procsPerNode slots per node when $PBS_NODEFILE is set', () => {
    const nodefile = join(makeJobDir('hpcb-nf-'), 'nodes');
    dirs.push(join(nodefile, '..'));
    // Torque lists every ppn slot.
    writeFileSync(nodefile, 'cn01\ncn01\ncn01\ncn01\ncn02\ncn02\ncn02\ncn02\n');
    const r = launch({ PBS_NODEFILE: nodefile });
    expect(r.status).toBe(0);
    expect(r.log[0]).toBe('-machinefile');
    expect(r.log.slice(2)).toEqual(['-np', '4', 'bash', '-c', 'solve', 'cn01', 'cn01', 'cn02', 'cn02']);
    expect(readdirSync(join(r.dir, '.hpcb')).some((f) => f.startsWith('hostfile.'))).toBe(true);
  });

  it('leaves the allocation to mpirun when there is no node file (the wrappers: Slurm knows it)', () => {
    const r = launch({});
    expect(r.log).toEqual(['-np', '4', 'bash', '-c', 'solve']);
  });

  it('MPI jobs ask PBS Pro for mpiprocs per chunk, as sites write it (so $PBS_NODEFILE lists the ranks)', () => {
    expect(fixture('peers/pbspro_qstat_f_aiida_multi_job.txt')).toContain('Resource_List.select = 2:ncpus=16:mpiprocs=16');
    expect(directives({ tasks: [{ cmd: 'x', type: 'mpich', procsPerNode: 16 }], resources: { nodes: 2, cpus: 16 } }, 'pbspro')).toContain(
      '#PBS -l select=2:ncpus=16:mpiprocs=16',
    );
  });
});
