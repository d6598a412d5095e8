/**
 * The Slurm batch script: `#SBATCH` directives built as [flag, value] pairs, then the shared
 * runner (adapters/common/runner.ts). Every directive below was checked with the real sbatch
 * 22.05.8 client (`sbatch -vv` prints the options it parsed; test/adapters/slurm/render.test.ts
 * does it whenever sbatch is installed).
 *
 * Decisions:
 * - `--job-name=<tag>`: the tag is how the engine finds its job again (exactly-once submit).
 *   The human name goes to `--comment`, which squeue (%k) and scontrol (Comment=) show while the
 *   controller knows the job; sacct keeps it only with AccountingStoreFlags=job_comment, so
 *   nothing relies on it.
 * - `--no-requeue`: Slurm's default (JobRequeue=1, "Requeue=1" in every scontrol capture) reruns
 *   the script from the top under the same job id after a node failure, with the same HPCB_ATTEMPT,
 *   appending to the same task logs. The bridge's `maximumRetries` already resubmits with a new
 *   attempt number, so the scheduler's requeue is turned off and a node failure ends the job as
 *   NODE_FAIL (and preemption as PREEMPTED) for the engine to retry visibly.
 * - `--export=ALL` (Slurm's default, written out so the choice is visible): NONE would make the
 *   srun steps inside the script inherit SLURM_EXPORT_ENV=NONE and drop the variables the runner
 *   exports for a task (sbatch(1) 22.05, --export=NONE); users' scripts also expect PATH and HOME.
 *   The daemon's SSH session environment is what gets exported, so it is kept small; anything a
 *   task needs comes from the definition's env. Note SBATCH_* variables in that session would
 *   override these directives (sbatch precedence: command line > environment > script).
 * - No `--signal`: the runner records SIGTERM itself within KillWait; an earlier warning signal
 *   would only be useful to user code, which receives the scheduler's SIGTERM anyway.
 * - `--kill-on-invalid-dep=yes` with every dependency: 22.05 leaves an afterok child of a failed
 *   parent PENDING (DependencyNeverSatisfied) forever, even with kill_invalid_depend set
 *   (pitfall 13, fixtures 07h/07i); the per-job flag cancels it within seconds.
 */
import type { ScriptContext } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import type { JobSpec, Task } from '../../src/domain/jobSpec.js';
import { gbToMb, mpiRanks, processLayout, type MpiTaskType } from '../common/resources.js';
import { HPCB_DIR, schedulerStderrPath, schedulerStdoutPath } from '../../src/jobdir/layout.js';
import { renderRunner, type Launcher, type RunnerOptions } from '../common/runner.js';

export type Directive = readonly [flag: string, value?: string];

/**
 * MPI launchers under Slurm 22.05, one line per task type; change them here (or per cluster with
 * SlurmAdapterOptions.launchers) once the test cluster has proven a command.
 *
 * - srun: Slurm's own launcher. `--cpus-per-task` is passed explicitly because since 22.05 srun
 *   no longer inherits it from the batch allocation (srun(1): "must be requested again").
 * - openmpi/mpich/intelmpi: `mpirun -np <nodes × procsPerNode>`. Debian 12's openmpi-bin 4.1.4 is
 *   built --with-slurm and an external PMIx only (no s1/s2 PMI component, see `ompi_info`), so
 *   `srun --mpi=pmi2` cannot start its ranks; its mpirun reads the Slurm allocation and starts
 *   its daemons with srun itself. MPICH's and Intel MPI's hydra mpirun do the same.
 */
export const SLURM_LAUNCHERS: Readonly<Record<MpiTaskType, Launcher>> = {
  srun: (_type, task, spec) => [
    'srun',
    `--nodes=${spec.resources.nodes}`,
    `--ntasks=${mpiRanks(task, spec)}`,
    `--ntasks-per-node=${task.procsPerNode ?? spec.resources.cpus}`,
    `--cpus-per-task=${processLayout(spec).cpusPerTask}`,
  ],
  openmpi: (_type, task, spec) => ['mpirun', '-np', String(mpiRanks(task, spec))],
  mpich: (_type, task, spec) => ['mpirun', '-np', String(mpiRanks(task, spec))],
  intelmpi: (_type, task, spec) => ['mpirun', '-np', String(mpiRanks(task, spec))],
};

export function slurmLauncher(overrides: Partial<Record<MpiTaskType, Launcher>> = {}): Launcher {
  return (type: MpiTaskType, task: Task, spec: JobSpec) => (overrides[type] ?? SLURM_LAUNCHERS[type])(type, task, spec);
}

const TAG = /^[A-Za-z0-9_.-]{1,128}$/;
const DEPENDENCY_ID = /^\d+(?:_\d+)?$/;

function absoluteBridgeFile(jobDir: string, rel: string): string {
  // Slurm expands %-patterns in --output/--error, and a backslash turns that off for the
  // whole name; the job directory is the daemon's own, so it simply must not contain either.
  if (/[%\\]/.test(jobDir)) {
    throw new BridgeError('INVALID_CONFIG', `job directory ${jobDir} contains '%' or '\\', which Slurm reads as a file name pattern`, {
      context: { path: jobDir },
    });
  }
  return `${jobDir.replace(/\/+$/, '')}/${rel}`;
}

/** The directives for one job, in the order they are written. */
export function slurmDirectives(spec: JobSpec, ctx: ScriptContext): Directive[] {
  if (!TAG.test(ctx.tag)) throw new BridgeError('INTERNAL', `job tag ${JSON.stringify(ctx.tag)} is not a valid Slurm job name`);
  const r = spec.resources;
  const d: Directive[] = [['--job-name', ctx.tag]];
  if (spec.name.trim() !== '') d.push(['--comment', spec.name]);
  d.push(['--chdir', ctx.jobDir]);
  if (ctx.array) {
    // %a: the element index, so array elements do not share one log (see schedulerStdoutPath).
    d.push(['--output', absoluteBridgeFile(ctx.jobDir, `${HPCB_DIR}/scheduler.%a.out`)]);
    d.push(['--error', absoluteBridgeFile(ctx.jobDir, `${HPCB_DIR}/scheduler.%a.err`)]);
  } else {
    d.push(['--output', absoluteBridgeFile(ctx.jobDir, schedulerStdoutPath())]);
    d.push(['--error', absoluteBridgeFile(ctx.jobDir, schedulerStderrPath())]);
  }

  const layout = processLayout(spec);
  d.push(['--nodes', String(r.nodes)]);
  d.push(['--ntasks-per-node', String(layout.tasksPerNode)]);
  d.push(['--cpus-per-task', String(layout.cpusPerTask)]);
  // Integer MB with an explicit unit: sbatch reads a bare number as MB too, but says so.
  if (r.memory !== undefined) d.push(['--mem', `${gbToMb(r.memory)}M`]);
  else if (r.memoryPerCpu !== undefined) d.push(['--mem-per-cpu', `${gbToMb(r.memoryPerCpu)}M`]);
  // A bare number is minutes for --time (22.05 prints it back as HH:MM:SS).
  if (r.walltime !== undefined) d.push(['--time', String(r.walltime)]);
  // sbatch checks this against the cluster's GresTypes before submitting: without GPUs
  // configured it fails with "Invalid generic resource (gres) specification" (a rejection).
  if (r.gpus !== undefined && r.gpus > 0) d.push(['--gres', `gpu:${r.gpus}`]);
  if (r.disk !== undefined) d.push(['--tmp', `${gbToMb(r.disk)}M`]);

  const partition = spec.queue ?? ctx.defaults.queue;
  const account = spec.account ?? ctx.defaults.account;
  const qos = spec.qos ?? ctx.defaults.qos;
  if (partition !== undefined) d.push(['--partition', partition]);
  if (account !== undefined) d.push(['--account', account]);
  if (qos !== undefined) d.push(['--qos', qos]);
  if (spec.reservation !== undefined) d.push(['--reservation', spec.reservation]);
  if (spec.constraint !== undefined) d.push(['--constraint', spec.constraint]);

  if (ctx.array) {
    const { size, parallel } = ctx.array;
    if (!Number.isSafeInteger(size) || size < 1) throw new BridgeError('INTERNAL', `array size must be >= 1, got ${size}`);
    if (parallel !== undefined && (!Number.isSafeInteger(parallel) || parallel < 1)) {
      throw new BridgeError('INTERNAL', `array parallelism must be >= 1, got ${parallel}`);
    }
    d.push(['--array', `0-${size - 1}${parallel !== undefined ? `%${parallel}` : ''}`]);
  }
  if (ctx.afterOk && ctx.afterOk.length > 0) {
    for (const id of ctx.afterOk) {
      if (!DEPENDENCY_ID.test(id)) throw new BridgeError('INTERNAL', `not a Slurm job id for a dependency: ${JSON.stringify(id)}`);
    }
    d.push(['--dependency', `afterok:${ctx.afterOk.join(':')}`]);
    d.push(['--kill-on-invalid-dep', 'yes']);
  }
  d.push(['--no-requeue']);
  d.push(['--export', 'ALL']);
  return d;
}

/**
 * One directive line. sbatch 22.05 reads `#SBATCH` values like a shell word: unquoted, a value
 * ends at whitespace and `#` starts a comment; inside double quotes both are literal. A newline
 * would end the directive and start a script line, so it is refused, as are `"` and `\` (which
 * nothing from the definition schema can contain).
 */
export function renderDirective([flag, value]: Directive): string {
  if (!/^--[a-z][a-z-]*$/.test(flag)) throw new BridgeError('INTERNAL', `bad sbatch flag ${JSON.stringify(flag)}`);
  if (value === undefined) return `#SBATCH ${flag}`;
  if (/["\\\0\n\r]/.test(value)) {
    throw new BridgeError('INVALID_DEFINITION', `value for ${flag} must not contain quotes, backslashes or newlines: ${JSON.stringify(value)}`);
  }
  const word = /[\s'#]/.test(value) || value === '' ? `"${value}"` : value;
  return `#SBATCH ${flag}=${word}`;
}

export interface SlurmScriptOptions {
  launchers?: Partial<Record<MpiTaskType, Launcher>>;
  sidecarGraceSeconds?: number;
  containerRuntime?: 'apptainer' | 'singularity';
  /** Interpreter line; `#!/bin/bash -l` for sites whose module setup lives in login profiles. */
  shebang?: string;
}

export function renderSlurmScript(spec: JobSpec, ctx: ScriptContext, opts: SlurmScriptOptions = {}): string {
  const shebang = opts.shebang ?? '#!/bin/bash';
  if (!/^#!\/\S*bash( -l)?$/.test(shebang)) throw new BridgeError('INVALID_CONFIG', `shebang must run bash, got ${JSON.stringify(shebang)}`);
  const runnerOpts: RunnerOptions = {
    arrayIndexVar: 'SLURM_ARRAY_TASK_ID',
    launcher: slurmLauncher(opts.launchers),
    // Array elements have their own SLURM_JOB_ID; the engine addresses them as <array>_<index>.
    nativeIdExpr: ctx.array ? '${SLURM_ARRAY_JOB_ID:-}_${SLURM_ARRAY_TASK_ID:-}' : '${SLURM_JOB_ID:-}',
  };
  if (opts.sidecarGraceSeconds !== undefined) runnerOpts.sidecarGraceSeconds = opts.sidecarGraceSeconds;
  if (opts.containerRuntime !== undefined) runnerOpts.containerRuntime = opts.containerRuntime;
  const header = [
    shebang,
    ...slurmDirectives(spec, ctx).map(renderDirective),
    `# hpc-bridge job ${ctx.bridgeJobId}, attempt ${ctx.attempt}`,
  ];
  return `${header.join('\n')}\n${renderRunner(spec, ctx, runnerOpts)}`;
}
