/**
 * The task runner: the scheduler-neutral bash body of every batch script. An adapter renders its
 * own header (shebang + `#SBATCH`/`#PBS` directives) and appends `renderRunner(...)`.
 *
 * The files it writes in the job directory (`ctx.jobDir`) are the job-directory protocol's
 * (src/jobdir/layout.ts). A `task.<i>.exit` that does not exist means the task never ran or
 * never finished; a missing `exit` means the job did not reach its end (see `terminated`).
 *
 * Every string that comes from the definition or the context reaches the script through
 * `shellQuote` (src/domain/quote.ts); the only raw interpolations are numbers and names that are
 * validated here.
 */
import { posix } from 'node:path';
import type { ScriptContext } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import { relativePathProblem, type ContainerRuntime, type JobSpec, type Task } from '../../src/domain/jobSpec.js';
import { isValidEnvName, shellQuote } from '../../src/domain/quote.js';
import { EVENT_RECORD, FILES, HPCB_DIR } from '../../src/jobdir/layout.js';
import { PODMAN_NOT_STARTED, podmanArgv, podmanFunctions, podmanRunArgs, type PodmanTask } from './podman.js';
import { isMpiTask, memoryPerNodeMb, type MpiTaskType } from './resources.js';

/**
 * Exit statuses of the batch script when the runner itself cannot start. They are only seen as
 * the scheduler's exit code (there is no `.hpcb/exit` then): a task's own status never reaches
 * the scheduler without an `exit` file being written first.
 */
export const RUNNER_EXIT = {
  /** `cd` into the job directory failed (missing, or not mounted on the compute node). */
  NO_JOB_DIR: 120,
  /** `.hpcb/` (or `.hpcb/<k>/`) could not be created or written. */
  NO_BRIDGE_DIR: 121,
  /** An array job ran without a numeric element index in `arrayIndexVar`. */
  BAD_ARRAY_INDEX: 122,
} as const;

// ---------------------------------------------------------------------------------------------
// Rendering

/**
 * The argv prefix that launches an MPI task (e.g. ['mpirun', '-np', '8'] or ['srun', ...]).
 * Words are shell-quoted by the runner.
 */
export type Launcher = (type: MpiTaskType, task: Task, spec: JobSpec) => readonly string[];

export interface RunnerOptions {
  /**
   * For array jobs: the environment variable in which the scheduler gives the element index
   * (Slurm `SLURM_ARRAY_TASK_ID`, PBS Pro `PBS_ARRAY_INDEX`). Required when `ctx.array` is set.
   */
  arrayIndexVar?: string;
  /** Launcher for MPI/srun task types. Required when the definition has such a task. */
  launcher?: Launcher;
  /** Seconds between SIGTERM and SIGKILL for sidecars when the job ends. Default 5. */
  sidecarGraceSeconds?: number;
  /** Runtime for tasks with an `image` and no `runtime`. Default 'apptainer'. */
  containerRuntime?: Exclude<ContainerRuntime, 'podman'>;
  /**
   * A shell expression (an adapter constant, never user input) that expands to the scheduler's
   * id of this job, e.g. `${SLURM_JOB_ID:-}`. The runner writes it to `.hpcb/native_id` at
   * start: the job's own testimony of its id, which lets the engine adopt a job whose submit
   * answer was lost (sbatch timing out after the controller accepted it) even after it left
   * the queue, instead of submitting it a second time.
   */
  nativeIdExpr?: string;
}

const DEFAULT_SIDECAR_GRACE_SECONDS = 5;

function q(s: string): string {
  return shellQuote(s);
}

function checkJobDir(jobDir: string): void {
  if (!jobDir.startsWith('/') || /[\0\n\r]/.test(jobDir)) {
    throw new BridgeError('INVALID_CONFIG', `job directory must be an absolute path without newlines, got ${JSON.stringify(jobDir)}`, {
      context: { path: jobDir },
    });
  }
}

/** Absolute directory a task runs in (for container `--pwd`). */
function absoluteWorkdir(jobDir: string, task: Task): string {
  return task.workdir === undefined ? jobDir : posix.join(jobDir, task.workdir);
}

/** Characters that apptainer/singularity `--bind` treats as separators (`src:dst:opts,src2`). */
const BIND_SEPARATORS = /[:,]/;

function runtimeOf(task: Task, opts: RunnerOptions): ContainerRuntime {
  return task.runtime ?? opts.containerRuntime ?? 'apptainer';
}

function isPodmanTask(task: Task, opts: RunnerOptions): boolean {
  return task.image !== undefined && runtimeOf(task, opts) === 'podman';
}

function podmanTask(task: Task, ctx: ScriptContext, workdir: string, binds: string[]): PodmanTask {
  const env = ['HPCB_*', ...Object.keys(ctx.env ?? {}), ...Object.keys(task.env ?? {})];
  return { image: task.image!, cmd: task.cmd, jobDir: ctx.jobDir, workdir, binds, env: [...new Set(env)] };
}

/** `<job dir>/<dir>:<path>` for each artifact with a mountpoint. */
function artifactBinds(spec: JobSpec, ctx: ScriptContext): string[] {
  const binds: string[] = [];
  spec.artifacts.forEach((a, i) => {
    if (a.mountpoint === undefined) return;
    const sep = a.mountpoint.indexOf(':');
    const dir = a.mountpoint.slice(0, sep);
    const target = a.mountpoint.slice(sep + 1);
    const problem = relativePathProblem(dir);
    const field = `artifacts[${i}].mountpoint`;
    if (problem) throw new BridgeError('INVALID_DEFINITION', `${field}: directory ${problem}`, { context: { field } });
    if (BIND_SEPARATORS.test(dir) || BIND_SEPARATORS.test(target)) {
      throw new BridgeError('INVALID_DEFINITION', `${field}: directory and path must not contain ':' or ','`, { context: { field } });
    }
    binds.push(`${posix.join(ctx.jobDir, dir)}:${target}`);
  });
  return binds;
}

/**
 * The exact argv of a container task, without the launcher:
 *   <runtime> exec --bind <jobDir> --pwd <abs workdir> [--bind <jobDir>/<dir>:<path>]... <image> bash -c <cmd>
 * or podman's (adapters/common/podman.ts). The job directory is bound at the same path, so the
 * files tasks see are the same inside and out.
 */
export function containerArgv(task: Task, spec: JobSpec, ctx: ScriptContext, opts: RunnerOptions = {}): string[] {
  if (task.image === undefined) throw new BridgeError('INTERNAL', 'containerArgv called for a task without an image');
  checkJobDir(ctx.jobDir);
  if (BIND_SEPARATORS.test(ctx.jobDir)) {
    throw new BridgeError('INVALID_CONFIG', `job directory ${ctx.jobDir} contains ':' or ',', which container --bind cannot express`, {
      context: { path: ctx.jobDir },
    });
  }
  const runtime = runtimeOf(task, opts);
  const workdir = absoluteWorkdir(ctx.jobDir, task);
  const binds = artifactBinds(spec, ctx);
  if (runtime === 'podman') return podmanArgv(podmanTask(task, ctx, workdir, binds));
  const argv = [runtime, 'exec', '--bind', ctx.jobDir, '--pwd', workdir];
  for (const b of binds) argv.push('--bind', b);
  argv.push(task.image, 'bash', '-c', task.cmd);
  return argv;
}

/** The shell line that runs one task (launcher + optional container + `bash -c <cmd>`). */
export function taskCommandLine(index: number, spec: JobSpec, ctx: ScriptContext, opts: RunnerOptions): string {
  const task = spec.tasks[index];
  if (!task) throw new BridgeError('INTERNAL', `no task ${index}`);
  const words: string[] = [];
  if (isPodmanTask(task, opts) && isMpiTask(task)) {
    const field = `tasks[${index}].runtime`;
    throw new BridgeError('INVALID_DEFINITION', `${field}: podman cannot run an MPI task (type "${task.type}")`, { context: { field } });
  }
  if (isMpiTask(task)) {
    if (!opts.launcher) throw new BridgeError('INTERNAL', `task ${index} has type ${task.type} but the adapter gave no launcher`);
    words.push(...opts.launcher(task.type, task, spec));
  }
  if (isPodmanTask(task, opts)) {
    // Through the runner's function (podmanFunctions), which records the container it starts.
    containerArgv(task, spec, ctx, opts); // the same checks of the job directory as any container
    const run = podmanRunArgs(podmanTask(task, ctx, absoluteWorkdir(ctx.jobDir, task), artifactBinds(spec, ctx)));
    return ['hpcb_podman_run', String(index), ...run.map(q)].join(' ');
  }
  if (task.image !== undefined) words.push(...containerArgv(task, spec, ctx, opts));
  else words.push('bash', '-c', task.cmd);
  return words.map(q).join(' ');
}

function exportLine(name: string, value: string, field: string): string {
  if (!isValidEnvName(name)) {
    throw new BridgeError('INVALID_DEFINITION', `${field}: environment variable name ${JSON.stringify(name)} is not valid`, { context: { field } });
  }
  return `export ${name}=${q(value)}`;
}

function renderTaskFunction(index: number, spec: JobSpec, ctx: ScriptContext, opts: RunnerOptions): string {
  const task = spec.tasks[index]!;
  const lines = [`hpcb_task_${index}() {`, `  export HPCB_TASK_INDEX=${index}`];
  if (task.workdir !== undefined) {
    // Created on demand: a task may name an output directory that nothing has made yet.
    const wd = q(task.workdir);
    lines.push(`  { mkdir -p -- ${wd} && cd -- ${wd}; } || { printf 'hpc-bridge: cannot enter workdir %s\\n' ${wd} >&2; exit 1; }`);
  }
  for (const [name, value] of Object.entries(task.env ?? {})) {
    lines.push(`  ${exportLine(name, value, `tasks[${index}].env.${name}`)}`);
  }
  // After the exports: a task's own XDG_RUNTIME_DIR is checked like an inherited one.
  if (isPodmanTask(task, opts)) {
    lines.push(`  hpcb_podman_ready ${index} ${q(task.image!)} || exit ${PODMAN_NOT_STARTED}`, `  ${taskCommandLine(index, spec, ctx, opts)}`, '}');
  } else {
    lines.push(`  exec ${taskCommandLine(index, spec, ctx, opts)}`, '}');
  }
  return lines.join('\n');
}

/**
 * The driver: the same text for every job. It relies on variables set above it
 * (hpcb_dir, hpcb_max_retries, hpcb_ignore_failures, hpcb_grace) and on hpcb_task_<i> functions.
 *
 * Why it is shaped like this:
 * - Tasks run in the background and the script `wait`s for them, because bash defers a trapped
 *   signal until a foreground child exits, but `wait` returns at once; so SIGTERM from scancel,
 *   qdel or the walltime limit is recorded within the scheduler's kill grace (Slurm KillWait,
 *   30 s by default and 5 s on the test cluster; PBS kill_delay).
 * - Sidecars get their own process group with `set -m` (bash job control), not `setsid`: a new
 *   session would escape Torque's and PBS's session-based job kill on hosts without cgroups,
 *   while a process group stays in the job's session and can still be signalled as a whole.
 * - On a signal the runner writes `terminated` and never `exit`: a walltime kill must not look
 *   like a job that ended with status 0.
 */
const DRIVER = `hpcb_child=''
hpcb_running=-1
hpcb_sidecars=''

hpcb_on_signal() {
  trap '' TERM INT HUP
  local now
  printf -v now '%(%s)T' -1
  hpcb_put "$hpcb_dir/${FILES.terminated}" "$1 $now $hpcb_running"
  hpcb_event term "$2"
  if [ -n "$hpcb_child" ]; then kill -TERM "$hpcb_child" 2>/dev/null; fi
  for hpcb_e in $hpcb_sidecars; do kill -TERM -- "-\${hpcb_e#*:}" 2>/dev/null; done
  # Containers the scheduler's kill may not reach (adapters/common/podman.ts); only jobs with podman tasks define it.
  if declare -F hpcb_podman_stop_all >/dev/null; then hpcb_podman_stop_all; fi
  exit "$2"
}
trap 'hpcb_on_signal TERM 143' TERM
trap 'hpcb_on_signal INT 130' INT
trap 'hpcb_on_signal HUP 129' HUP

hpcb_start_sidecar() {
  set -m
  "hpcb_task_$1" </dev/null >>"$hpcb_dir/task.$1.stdout" 2>>"$hpcb_dir/task.$1.stderr" &
  hpcb_sidecars="$hpcb_sidecars $1:$!"
  set +m
}

hpcb_stop_sidecars() {
  [ -n "$hpcb_sidecars" ] || return 0
  local e pgids='' dog
  for e in $hpcb_sidecars; do
    kill -TERM -- "-\${e#*:}" 2>/dev/null
    pgids="$pgids \${e#*:}"
  done
  set -m
  ( sleep "$hpcb_grace"; for p in $pgids; do kill -KILL -- "-$p" 2>/dev/null; done ) </dev/null >/dev/null 2>&1 &
  dog=$!
  set +m
  for e in $hpcb_sidecars; do
    wait "\${e#*:}"
    hpcb_put "$hpcb_dir/task.\${e%%:*}.exit" "$?"
  done
  kill -KILL -- "-$dog" 2>/dev/null
  wait "$dog" 2>/dev/null
  for p in $pgids; do kill -KILL -- "-$p" 2>/dev/null; done
  hpcb_sidecars=''
}

hpcb_run() {
  local i=$1 try=0 rc
  hpcb_running=$i
  while :; do
    "hpcb_task_$i" </dev/null >>"$hpcb_dir/task.$i.stdout" 2>>"$hpcb_dir/task.$i.stderr" &
    hpcb_child=$!
    wait "$hpcb_child"
    rc=$?
    hpcb_child=''
    if [ "$rc" -eq 0 ] || [ "$try" -ge "$hpcb_max_retries" ]; then break; fi
    try=$((try + 1))
    printf 'hpc-bridge: task %s exited with status %s; retry %s of %s\\n' "$i" "$rc" "$try" "$hpcb_max_retries" >>"$hpcb_dir/task.$i.stderr"
  done
  hpcb_put "$hpcb_dir/task.$i.exit" "$rc"
  hpcb_running=-1
  return "$rc"
}`;

/**
 * `hpcb_event <phase> <exit status or ->`: one record appended to the account's event log
 * (src/jobdir/layout.ts, EVENT_RECORD). The printf builtin emits the whole line in one write(2)
 * and `>>` opens with O_APPEND, so records from many nodes never interleave. Stderr is sent away
 * before the log is opened: a log that cannot be written must cost the job nothing (the status
 * poll still learns how it ended). EPOCHREALTIME needs no fork; older bash falls back to date.
 */
function eventLines(ctx: ScriptContext, opts: RunnerOptions): string[] {
  if (ctx.eventLog === undefined) return ['hpcb_event() { :; }'];
  if (!ctx.eventLog.startsWith('/') || /[\0\n\r]/.test(ctx.eventLog)) {
    throw new BridgeError('INVALID_CONFIG', `event log must be an absolute path without newlines, got ${JSON.stringify(ctx.eventLog)}`, { context: { path: ctx.eventLog } });
  }
  return [
    `hpcb_event_log=${q(ctx.eventLog)}`,
    `hpcb_event_id=${opts.nativeIdExpr ? `"${opts.nativeIdExpr}"` : "''"}`,
    `hpcb_event() { printf '%s %s %s %s %s %s\\n' ${EVENT_RECORD.version} ${q(ctx.tag)} "\${hpcb_event_id:--}" "$1" "$2" "\${EPOCHREALTIME:-$(date +%s)}" 2>/dev/null >>"$hpcb_event_log" || :; }`,
  ];
}

/**
 * The bash body of a batch script for `spec` (everything after the scheduler's directives).
 * Throws INVALID_DEFINITION for a value the definition schema let through but the script cannot
 * express, INVALID_CONFIG for a bad job directory and INTERNAL for a misused option.
 */
export function renderRunner(spec: JobSpec, ctx: ScriptContext, opts: RunnerOptions): string {
  checkJobDir(ctx.jobDir);
  const grace = opts.sidecarGraceSeconds ?? DEFAULT_SIDECAR_GRACE_SECONDS;
  if (!Number.isSafeInteger(grace) || grace < 0) throw new BridgeError('INTERNAL', `sidecarGraceSeconds must be a whole number >= 0, got ${grace}`);
  for (const [what, n] of [['bridgeJobId', ctx.bridgeJobId], ['attempt', ctx.attempt]] as const) {
    if (!Number.isSafeInteger(n) || n < 0) throw new BridgeError('INTERNAL', `ctx.${what} must be a non-negative integer, got ${n}`);
  }

  const out: string[] = [];
  out.push(
    '# ---- hpc-bridge task runner (adapters/common/runner.ts) ----',
    `# Bridge files: ${HPCB_DIR}/ (or ${HPCB_DIR}/<array index>/): started, task.<i>.stdout|stderr|exit, exit, terminated.`,
    'set -u',
    `hpcb_job_dir=${q(ctx.jobDir)}`,
    'if ! cd -- "$hpcb_job_dir"; then',
    `  printf 'hpc-bridge: cannot enter the job directory %s\\n' "$hpcb_job_dir" >&2`,
    `  exit ${RUNNER_EXIT.NO_JOB_DIR}`,
    'fi',
  );

  if (ctx.array) {
    const v = opts.arrayIndexVar;
    if (v === undefined || !isValidEnvName(v)) {
      throw new BridgeError('INTERNAL', `an array job needs RunnerOptions.arrayIndexVar (a variable name), got ${JSON.stringify(v)}`);
    }
    if (!Number.isSafeInteger(ctx.array.size) || ctx.array.size < 1) throw new BridgeError('INTERNAL', `array size must be >= 1, got ${ctx.array.size}`);
    out.push(
      `HPCB_ARRAY_INDEX=\${${v}-}`,
      'case $HPCB_ARRAY_INDEX in',
      "  '' | *[!0-9]*)",
      `    printf 'hpc-bridge: array element index %s=%s is not a number\\n' ${v} "$HPCB_ARRAY_INDEX" >&2`,
      `    exit ${RUNNER_EXIT.BAD_ARRAY_INDEX} ;;`,
      'esac',
      `hpcb_dir=${HPCB_DIR}/$HPCB_ARRAY_INDEX`,
    );
  } else {
    out.push(`hpcb_dir=${HPCB_DIR}`);
  }

  out.push(
    "# Outputs, logs and status files are the job owner's alone; a task that shares a file sets its mode itself.",
    'umask 077',
    // One line, one write(2) of a few bytes, no rename: a reader takes a line without its newline
    // as not yet written (src/jobdir/layout.ts), which is what the rename gave, without an `mv`
    // fork per file (four per job).
    `hpcb_put() { printf '%s\\n' "$2" >"$1"; }`,
    // Builtins where bash has them (the clock, tests): trivial jobs start by the hundred, and a
    // fork costs 10-25 ms on a busy node.
    'if [ ! -d "$hpcb_dir" ] && ! mkdir -p -- "$hpcb_dir"; then',
    `  printf 'hpc-bridge: cannot create %s in %s\\n' "$hpcb_dir" "$hpcb_job_dir" >&2`,
    `  exit ${RUNNER_EXIT.NO_BRIDGE_DIR}`,
    'fi',
    '# Status files of an earlier run in this directory (a requeue, a resubmission) must not be read as this run\'s.',
    `for hpcb_f in "$hpcb_dir/${FILES.exit}" "$hpcb_dir/${FILES.terminated}" "$hpcb_dir/${FILES.nativeId}" "$hpcb_dir/${FILES.failure}" "$hpcb_dir"/task.*.exit; do`,
    `  if [ -e "$hpcb_f" ]; then rm -f -- "$hpcb_dir/${FILES.exit}" "$hpcb_dir/${FILES.terminated}" "$hpcb_dir/${FILES.nativeId}" "$hpcb_dir/${FILES.failure}" "$hpcb_dir"/task.*.exit; break; fi`,
    'done',
    `printf -v hpcb_now '%(%s)T' -1`,
    `if ! hpcb_put "$hpcb_dir/${FILES.started}" "$hpcb_now"; then`,
    `  printf 'hpc-bridge: cannot write to %s\\n' "$hpcb_dir" >&2`,
    `  exit ${RUNNER_EXIT.NO_BRIDGE_DIR}`,
    'fi',
    ...(opts.nativeIdExpr ? [`hpcb_put "$hpcb_dir/${FILES.nativeId}" "${opts.nativeIdExpr}"`] : []),
    ...eventLines(ctx, opts),
    'hpcb_event start -',
    '',
  );

  // Context environment first, so the bridge's own HPCB_* variables cannot be shadowed by it.
  for (const [name, value] of Object.entries(ctx.env ?? {})) out.push(exportLine(name, value, `env.${name}`));
  out.push(
    `export HPCB_JOB_ID=${ctx.bridgeJobId} HPCB_ATTEMPT=${ctx.attempt} HPCB_JOB_DIR="$hpcb_job_dir"`,
    `export HPCB_CPUS=${spec.resources.cpus} HPCB_NODES=${spec.resources.nodes}`,
  );
  const mem = memoryPerNodeMb(spec);
  if (mem !== undefined) out.push(`# Memory per node in MB (1 GB = 1024 MB), as requested from the scheduler.`, `export HPCB_MEMORY=${mem}`);
  if (ctx.array) out.push(`export HPCB_ARRAY_INDEX HPCB_ARRAY_SIZE=${ctx.array.size}`);
  out.push('');

  if (spec.tasks.some((t) => isPodmanTask(t, opts))) {
    out.push('# Rootless podman in a batch job (adapters/common/podman.ts says why each step).', podmanFunctions(), '');
  }
  spec.tasks.forEach((_t, i) => out.push(renderTaskFunction(i, spec, ctx, opts), ''));

  out.push(
    `hpcb_max_retries=${spec.policies.maximumTaskRetries}`,
    `hpcb_ignore_failures=${spec.policies.ignoreTaskFailures ? 1 : 0}`,
    `hpcb_grace=${grace}`,
    DRIVER,
    '',
  );

  const sidecars: number[] = [];
  const main: number[] = [];
  spec.tasks.forEach((t, i) => (t.type === 'sidecar' ? sidecars : main).push(i));
  if (main.length === 0) throw new BridgeError('INVALID_DEFINITION', 'needs at least one task that is not a sidecar', { context: { field: 'tasks' } });
  for (const i of sidecars) out.push(`hpcb_start_sidecar ${i}`);
  out.push(
    'hpcb_rc=0',
    'hpcb_failed=-1',
    `for hpcb_i in ${main.join(' ')}; do`,
    '  hpcb_run "$hpcb_i"',
    '  hpcb_status=$?',
    '  if [ "$hpcb_status" -ne 0 ] && [ "$hpcb_ignore_failures" -eq 0 ]; then',
    '    hpcb_rc=$hpcb_status',
    '    hpcb_failed=$hpcb_i',
    '    break',
    '  fi',
    'done',
    'hpcb_stop_sidecars',
    ...(spec.tasks.some((t) => isPodmanTask(t, opts)) ? ['hpcb_podman_stop_all'] : []),
    `hpcb_put "$hpcb_dir/${FILES.exit}" "$hpcb_rc $hpcb_failed"`,
    'hpcb_event end "$hpcb_rc"',
    'exit "$hpcb_rc"',
    '',
  );
  return out.join('\n');
}
