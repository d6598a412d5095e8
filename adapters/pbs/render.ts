/**
 * `#PBS` directives for PBS Pro/OpenPBS and Torque.
 *
 * Decisions, with the scheduler behaviour behind each:
 *  - `-N` is the bridge's tag (ids.ts: kept whole on PBS Pro, re-encoded to ≤ 15 characters on
 *    Torque), never the user's display name: the engine finds lost jobs by it.
 *  - `-S /bin/bash`: PBS Pro and Torque run the script with the user's login shell unless -S is
 *    given (qsub(1B) of both), and a `#!` line is not a reliable way to choose it; the runner is bash.
 *  - `-o`/`-e` go to `<jobDir>/.hpcb/scheduler.{out,err}` (array elements: `scheduler.<k>.{out,err}`
 *    on PBS Pro, Torque's own `<name>.o<seq>-<k>` names in `.hpcb/`) and only catch what the runner itself
 *    prints. Task logs are written by the runner, because (a) PBS Pro and Torque spool stdout on
 *    the execution host and copy it back only at the end, so it cannot be followed live, and (b)
 *    the slurm-wlm-torque qsub always adds `-o <script>.o%A -e <script>.e%A` on the command line,
 *    which overrides `#PBS -o/-e` (12a-qsub-sbatchline.txt, 12f-scontrol-of-qsub-job.txt).
 *    `-j` is left at its default (n, not joined) so the two stay apart where they are honoured.
 *  - `-r n`: not rerunnable (except PBS Pro arrays, which OpenPBS refuses to take that way). A
 *    rerun silently executes the user's commands a second time in the
 *    same job directory; retries are the engine's decision (policies.maximumRetries), and a node
 *    failure is reported to it as node_fail (JOB_EXEC_RERUN_* exit statuses) instead.
 *  - No `-v`/`-V`: the runner exports the job's environment itself. With the wrappers, `-v` on the
 *    qsub command line becomes `--export=none,…` (12a), and sbatch turns `#PBS -v X=1` into
 *    `--export=X=1`, which drops the rest of the environment.
 *  - Resources: PBS Pro `-l select=N:ncpus=C[:mpiprocs=P][:mem=Mmb][:ngpus=G]` with `-l place=scatter`
 *    for N > 1 (one chunk per node); Torque `-l nodes=N:ppn=C[:gpus=G]` and `-l mem=<total>mb`
 *    (Torque's mem is for the whole job, so nodes × per-node memory; sbatch behind the wrappers
 *    reads it as per-node --mem, which only differs for multi-node jobs).
 *  - Arrays: PBS Pro `-J 0-(n-1)[%p]` (the %p limit needs OpenPBS 20 / PBS Pro 2020.1 or later; turn
 *    it off with arrayParallelLimit: false), Torque `-t 0-(n-1)[%p]`. The wrappers translate both to
 *    `--array` (12i-qsub-array-t.txt).
 *  - Dependencies: `-W depend=afterok:<id>:<id>`; on Torque a dependency on an array job needs
 *    `afterokarray:<id>[]`. sbatch reads `#PBS -W depend=` as --dependency, and refuses
 *    afterokarray ("Job dependency problem", 12v-qsub-depend.txt); the engine asks for
 *    dependencies only where the adapter declares nativeDependencies (index.ts).
 *  - Not expressible, written as `# hpc-bridge:` comments so a reader of the script sees them: qos
 *    (PBS has none), resources.disk (no portable scratch resource), policies.priority.
 *  - Refused (INVALID_DEFINITION): a reservation on Torque (no reservation attribute without Moab),
 *    constraints other than `a&b&c` feature lists, and srun tasks on PBS Pro.
 *  - MPI tasks start through mpirun with a machine file built from $PBS_NODEFILE (PBS_LAUNCHERS below).
 */
import { isMpiTask, memoryPerNodeMb, mpiRanks, processLayout, type MpiTaskType } from '../common/resources.js';
import { HPCB_DIR, schedulerStderrPath, schedulerStdoutPath } from '../../src/jobdir/layout.js';
import { renderRunner, type Launcher, type RunnerOptions } from '../common/runner.js';
import type { ScriptContext } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import type { JobSpec, Task } from '../../src/domain/jobSpec.js';
import { parsePbsJobId, pbsJobName } from './ids.js';
import type { PbsFlavor } from './states.js';

export interface PbsRenderOptions {
  flavor: PbsFlavor;
  /** Longest job name the server accepts (default 230 PBS Pro, 15 Torque). */
  maxJobNameLength?: number;
  /** Render the `%p` limit on array jobs (default true). */
  arrayParallelLimit?: boolean;
}


/** Minutes → HH:MM:SS (hours may exceed 24, as PBS accepts). */
export function pbsWalltime(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00`;
}

function invalid(field: string, message: string): BridgeError {
  return new BridgeError('INVALID_DEFINITION', `${field}: ${message}`, { context: { field, problems: [{ field, message }] } });
}

/** A word that can stand unquoted in a directive (queue, account, reservation names). */
function directiveWord(value: string, what: string): string {
  if (!/^[A-Za-z0-9_.+@-]{1,256}$/.test(value)) {
    throw new BridgeError('INVALID_CONFIG', `${what} "${value}" cannot be written in a #PBS directive (letters, digits and _ . + @ - only)`, {
      context: { field: what },
    });
  }
  return value;
}

/** An absolute path that PBS reads as a path: no whitespace, and no ':' (PBS would take host:path). */
function directivePath(p: string): string {
  if (!/^\/[A-Za-z0-9_./+@%,=-]*$/.test(p)) {
    throw new BridgeError('INVALID_CONFIG', `job directory "${p}" cannot be used in a #PBS -o/-e directive (no spaces, ':' or shell characters)`, {
      context: { path: p },
    });
  }
  return p.replace(/\/+$/, '');
}

/** `a&b` → ['a', 'b']; anything else PBS cannot say portably. */
function constraintFeatures(c: string | undefined): string[] {
  if (c === undefined) return [];
  const parts = c.split('&');
  if (!parts.every((p) => /^[A-Za-z][A-Za-z0-9_.-]*$/.test(p))) {
    throw invalid('constraint', 'PBS can only express a list of node features joined with & (e.g. "bigmem&ib")');
  }
  return parts;
}

/** The PBS Pro chunk: `N:ncpus=C[:mpiprocs=P][:mem=Mmb][:ngpus=G][:feature=True]`. */
export function pbsproSelect(spec: JobSpec): string {
  const r = spec.resources;
  let chunk = `${r.nodes}:ncpus=${r.cpus}`;
  if (spec.tasks.some(isMpiTask)) chunk += `:mpiprocs=${processLayout(spec).tasksPerNode}`;
  const mem = memoryPerNodeMb(spec);
  if (mem !== undefined) chunk += `:mem=${mem}mb`;
  if (r.gpus) chunk += `:ngpus=${r.gpus}`;
  // PBS Pro node features are site-defined boolean host resources requested per chunk.
  for (const f of constraintFeatures(spec.constraint)) chunk += `:${f}=True`;
  return chunk;
}

/** The Torque node spec: `N:ppn=C[:gpus=G][:feature]`. */
export function torqueNodes(spec: JobSpec): string {
  const r = spec.resources;
  let nodes = `${r.nodes}:ppn=${r.cpus}`;
  if (r.gpus) nodes += `:gpus=${r.gpus}`;
  for (const f of constraintFeatures(spec.constraint)) nodes += `:${f}`;
  return nodes;
}

function dependencyDirective(ids: readonly string[], flavor: PbsFlavor): string | undefined {
  if (ids.length === 0) return undefined;
  for (const id of ids) {
    if (!parsePbsJobId(id)) throw new BridgeError('INTERNAL', `dependency "${id}" is not a PBS job id`, { context: { nativeId: id } });
  }
  if (flavor === 'pbspro') return `depend=afterok:${ids.join(':')}`;
  const plain = ids.filter((id) => !parsePbsJobId(id)!.isArray);
  const arrays = ids.filter((id) => parsePbsJobId(id)!.isArray);
  const parts: string[] = [];
  if (plain.length) parts.push(`afterok:${plain.join(':')}`);
  if (arrays.length) parts.push(`afterokarray:${arrays.join(':')}`);
  return `depend=${parts.join(',')}`;
}

/**
 * Torque: `-o`/`-e` for the qsub command line, the same paths as the `#PBS -o/-e` lines. On a real
 * Torque they only repeat the directives. The slurm-wlm-torque qsub, however, always adds
 * `-e <script>.e%A -o <script>.o%A` to its sbatch line unless -o/-e are on *its* command line, and
 * sbatch's command line beats the script's directives (12a-qsub-sbatchline.txt). Without these
 * the scheduler logs land in the user's job directory as `job.sh.o<id>`/`job.sh.e<id>` (and
 * would be collected as outputs), and Slurm's "oom-kill event" line, the evidence of a memory
 * kill the engine greps `.hpcb/*.err` for, is not where the engine looks.
 * Array jobs get nothing: the wrappers would pass a directory to sbatch, which wants a file name
 * pattern; they keep the wrappers' per-element `<script>.e%A.%a` names.
 */
export function torqueSubmitLogArgs(ctx: ScriptContext): string[] {
  if (ctx.array) return [];
  const dir = directivePath(ctx.jobDir);
  return ['-o', `${dir}/${schedulerStdoutPath()}`, '-e', `${dir}/${schedulerStderrPath()}`];
}

/** The directive block: `#PBS ...` lines, then `# hpc-bridge:` notes. No shebang. */
export function renderPbsDirectives(spec: JobSpec, ctx: ScriptContext, opts: PbsRenderOptions): string[] {
  const { flavor } = opts;
  const out: string[] = [];
  const d = (line: string) => out.push(`#PBS ${line}`);
  const notes: string[] = [];

  d(`-N ${pbsJobName(ctx.tag, flavor, opts.maxJobNameLength)}`);
  d('-S /bin/bash');

  let queue = spec.queue ?? ctx.defaults.queue;
  if (spec.reservation !== undefined) {
    if (flavor === 'torque') throw invalid('reservation', 'Torque has no reservation attribute for jobs (that needs Moab); leave reservation out on this cluster');
    // A PBS Pro reservation is a queue of its own (R123, or the name given to pbs_rsub -N).
    if (spec.queue !== undefined && spec.queue !== spec.reservation) {
      throw invalid('reservation', `on PBS Pro a reservation is a queue; it cannot be combined with queue "${spec.queue}"`);
    }
    queue = spec.reservation;
  }
  if (queue !== undefined) d(`-q ${directiveWord(queue, 'queue')}`);
  const account = spec.account ?? ctx.defaults.account;
  if (account !== undefined) d(`-A ${directiveWord(account, 'account')}`);

  if (flavor === 'pbspro') {
    d(`-l select=${pbsproSelect(spec)}`);
    if (spec.resources.nodes > 1) d('-l place=scatter');
  } else {
    d(`-l nodes=${torqueNodes(spec)}`);
    const mem = memoryPerNodeMb(spec);
    if (mem !== undefined) d(`-l mem=${mem * spec.resources.nodes}mb`);
  }
  if (spec.resources.walltime !== undefined) d(`-l walltime=${pbsWalltime(spec.resources.walltime)}`);

  const dir = directivePath(ctx.jobDir);
  if (!ctx.array) {
    d(`-o ${dir}/${schedulerStdoutPath()}`);
    d(`-e ${dir}/${schedulerStderrPath()}`);
  } else if (flavor === 'pbspro') {
    // PBS Pro replaces ^array_index^ in -o/-e paths with the subjob index (PBS_FILE_ARRAY_INDEX_TAG
    // in OpenPBS src/include/job.h), giving the runner's .hpcb/scheduler.<k>.out names.
    d(`-o ${dir}/${schedulerStdoutPath(0).replace('.0.', '.^array_index^.')}`);
    d(`-e ${dir}/${schedulerStderrPath(0).replace('.0.', '.^array_index^.')}`);
  } else {
    // Torque has no index placeholder; given a directory it names each element's files
    // <name>.o<seq>-<index> (as in torque_qstat_x_xml_fyrd.txt), so the elements do not collide.
    d(`-o ${dir}/${HPCB_DIR}/`);
    d(`-e ${dir}/${HPCB_DIR}/`);
  }
  // OpenPBS refuses a non-rerunnable array ("qsub: cannot submit non-rerunable Array Job", seen
  // on the real 23.06 server, 40_*), so an array's elements stay rerunnable: after a MoM restart
  // the server may run an element again (docs/SCHEDULERS.md).
  if (!(ctx.array && flavor === 'pbspro')) d('-r n');

  if (ctx.array) {
    const { size, parallel } = ctx.array;
    if (!Number.isInteger(size) || size < 1) throw new BridgeError('INTERNAL', `array size ${size} is not a positive integer`);
    const limit = parallel !== undefined && parallel > 0 && opts.arrayParallelLimit !== false ? `%${parallel}` : '';
    d(`${flavor === 'pbspro' ? '-J' : '-t'} 0-${size - 1}${limit}`);
  }
  const dep = dependencyDirective(ctx.afterOk ?? [], flavor);
  if (dep) d(`-W ${dep}`);

  const qos = spec.qos ?? ctx.defaults.qos;
  if (qos !== undefined) notes.push(`qos ${JSON.stringify(qos)} not applied: PBS has no QOS`);
  if (spec.resources.disk !== undefined) notes.push('resources.disk not applied: PBS has no portable scratch-disk resource');
  if (spec.policies.priority !== undefined) notes.push('policies.priority not applied on PBS');
  for (const n of notes) out.push(`# hpc-bridge: ${n}`);
  return out;
}

/**
 * mpirun under PBS. Open MPI finds a PBS allocation only when built with TM support (Debian's is
 * not); MPICH's and Intel MPI's hydra read $PBS_NODEFILE themselves. So when $PBS_NODEFILE is set
 * the launcher hands mpirun a machine file: one line per rank slot, `procsPerNode` per node in
 * node order. It is rebuilt from the unique hosts because Torque lists every ppn slot (a
 * `nodes=2:ppn=8` job with 2 ranks per node would otherwise get 8 ranks on the first node).
 * `-machinefile` is understood by Open MPI, MPICH and Intel MPI. Behind the slurm-wlm-torque
 * wrappers $PBS_NODEFILE is empty and mpirun reads the Slurm allocation instead.
 *
 * The words go through the runner's shellQuote; `$1` is procsPerNode and the rest is mpirun's argv.
 */
const MPIRUN_PROGRAM = [
  'p=$1; shift',
  'if [ -n "${PBS_NODEFILE:-}" ] && [ -r "$PBS_NODEFILE" ]; then',
  '  h=$(mktemp "${HPCB_JOB_DIR:-.}/.hpcb/hostfile.XXXXXX") || exit 1',
  '  awk -v p="$p" \'!seen[$0]++ { for (i = 0; i < p; i++) print }\' "$PBS_NODEFILE" > "$h" || exit 1',
  '  exec mpirun -machinefile "$h" "$@"',
  'fi',
  'exec mpirun "$@"',
].join('\n');

function mpirunLauncher(_type: MpiTaskType, task: Task, spec: JobSpec): readonly string[] {
  const perNode = task.procsPerNode ?? spec.resources.cpus;
  return ['bash', '-c', MPIRUN_PROGRAM, 'hpcb-mpirun', String(perNode), '-np', String(mpiRanks(task, spec))];
}

export const PBS_LAUNCHERS: Readonly<Record<MpiTaskType, Launcher>> = {
  openmpi: mpirunLauncher,
  mpich: mpirunLauncher,
  intelmpi: mpirunLauncher,
  // Only meaningful where the PBS commands are wrappers over Slurm (our torque test cluster);
  // renderPbsScript refuses srun tasks on PBS Pro.
  srun: (_type, task, spec) => [
    'srun',
    `--nodes=${spec.resources.nodes}`,
    `--ntasks=${mpiRanks(task, spec)}`,
    `--ntasks-per-node=${task.procsPerNode ?? spec.resources.cpus}`,
    `--cpus-per-task=${processLayout(spec).cpusPerTask}`,
  ],
};

export interface PbsScriptOptions extends PbsRenderOptions {
  launchers?: Partial<Record<MpiTaskType, Launcher>>;
  sidecarGraceSeconds?: number;
  containerRuntime?: 'apptainer' | 'singularity';
}

/**
 * The variable the runner reads the array element index from. PBS Pro sets PBS_ARRAY_INDEX.
 * Torque sets PBS_ARRAYID; behind the slurm-wlm-torque wrappers the job runs under Slurm and
 * only SLURM_ARRAY_TASK_ID is certain, so the torque script copies whichever is set into one variable.
 */
const TORQUE_ARRAY_INDEX_VAR = 'HPCB_PBS_ARRAY_INDEX';

/**
 * The whole batch script: shebang, #PBS directives, and the common task runner
 * (adapters/common/runner.ts, renderRunner).
 */
export function renderPbsScript(spec: JobSpec, ctx: ScriptContext, opts: PbsScriptOptions): string {
  if (opts.flavor === 'pbspro' && spec.tasks.some((t) => t.type === 'srun')) {
    const i = spec.tasks.findIndex((t) => t.type === 'srun');
    throw invalid(`tasks[${i}].type`, 'srun tasks need Slurm; use openmpi, mpich or intelmpi on PBS Pro');
  }
  const runnerOpts: RunnerOptions = {
    arrayIndexVar: opts.flavor === 'pbspro' ? 'PBS_ARRAY_INDEX' : TORQUE_ARRAY_INDEX_VAR,
    // The job's own testimony of its id (.hpcb/native_id), read when a submit answer was lost.
    // PBS_JOBID is `123.server`, or `123[4].server` in a subjob, as qstat prints it. Behind the
    // slurm-wlm-torque wrappers it is empty without spank_pbs (12m-pbs-output.txt) and the Slurm
    // id with it; SLURM_JOB_ID is that same number, which is also what their qstat prints.
    nativeIdExpr: opts.flavor === 'pbspro' ? '${PBS_JOBID:-}' : '${PBS_JOBID:-${SLURM_JOB_ID:-}}',
    launcher: (type, task, s) => (opts.launchers?.[type] ?? PBS_LAUNCHERS[type])(type, task, s),
  };
  if (opts.sidecarGraceSeconds !== undefined) runnerOpts.sidecarGraceSeconds = opts.sidecarGraceSeconds;
  if (opts.containerRuntime !== undefined) runnerOpts.containerRuntime = opts.containerRuntime;
  const header = ['#!/bin/bash', ...renderPbsDirectives(spec, ctx, opts), `# hpc-bridge job ${ctx.bridgeJobId}, attempt ${ctx.attempt}`];
  if (ctx.array && opts.flavor === 'torque') {
    header.push(`${TORQUE_ARRAY_INDEX_VAR}=\${PBS_ARRAYID:-\${SLURM_ARRAY_TASK_ID:-}}`);
  }
  return `${header.join('\n')}\n${renderRunner(spec, ctx, runnerOpts)}`;
}
