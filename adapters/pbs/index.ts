/**
 * The PBS adapter, for PBS Pro/OpenPBS (`flavor: 'pbspro'`) and Torque (`flavor: 'torque'`, which
 * also covers the slurm-wlm-torque wrappers of our test cluster).
 *
 *   submit      qsub <script>                               (all options are #PBS lines, render.ts;
 *               Torque repeats -o/-e on the command line for the wrappers: torqueSubmitLogArgs)
 *   status      PBS Pro: qselect -x -u <user> | xargs qstat -f -x -t     (text; see below)
 *               Torque:  qstat -x -t (XML), falling back to qstat -f -1 (text)  (see below)
 *   accounting  PBS Pro: qstat -f -x <ids>; Torque: none (no history after keep_completed,
 *               and the wrappers forget a job MinJobAge seconds after it ends)
 *   cancel      qdel <ids>
 *
 * Status on PBS Pro. `qstat -f -u <user>` is not an option: -u belongs to the alternate (table)
 * format, and with -F json current OpenPBS prints the table followed by an empty JSON document
 * (openpbs PR #2675; balsam PR #216 works around the same thing). `qstat -f -F json -x` without an
 * operand lists every user's jobs and two weeks of history, which on a large site is hundreds of
 * megabytes per poll. So the status command is a short bash program: `qselect -x -u <user>` lists
 * the user's job ids (history included), and xargs hands them to `qstat -f -x -t` (-t expands
 * arrays into subjobs). A history job that expires between qselect and qstat makes qstat print
 * "Unknown Job Id" and exit non-zero, which parseStatus accepts.
 *
 * Text, not `-F json`: the OpenPBS 23.06.06 the test cluster builds answers `qstat -f -F json`
 * with several ids with the FIRST job only (checked there: two ids, one job_state), so every other
 * job looked gone and ended "lost"; the text format lists them all. parseStatus still reads JSON
 * (and a sequence of documents) wherever it meets it.
 *
 * Status on Torque, and the fallback for the wrappers. Torque's `qstat -x` is XML (not history as
 * on PBS Pro); the slurm-wlm-torque qstat refuses it: "Unknown option: x", exit 2
 * (12e-qstat-x-running.txt). The fallback is data, in two places the engine does not have to know about:
 *   - `torqueStatusFormat: 'auto'` (the default) makes the status command itself try
 *     `qstat -x -t` and, only on exit 2 with "Unknown option", run `qstat -f -1` instead;
 *   - parseStatus reads whatever format arrives (detectStatusFormat: XML, JSON or `qstat -f` text).
 * A cluster configured with 'xml' that turns out to be the wrappers gets a non-transient
 * SCHEDULER_ERROR whose context carries `statusFormatRefused: 'xml'` and
 * `suggestedStatusFormat: 'text'`; `refusedStatusOption(result)` gives the same answer for a probe
 * (e.g. a check-cluster command) that wants to pin 'text' and save the wasted qstat per poll.
 */
import type { ExecResult, FinalInfo, NativeArrays, Observation, ScriptContext, SchedulerAdapter } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import type { MpiTaskType } from '../common/resources.js';
import type { Launcher } from '../common/runner.js';
import { flavorProbeCommand, judgeFlavor, parseFlavorProbe } from './flavor.js';
import { normalizePbsId, parsePbsArrayElementId, pbsArrayElementId } from './ids.js';
import { parseAccountingResult, parseQdelResult, parseQsubOutput, parseStatusResult } from './parse.js';
import { renderPbsScript, torqueSubmitLogArgs } from './render.js';
import type { PbsFlavor } from './states.js';

export type { PbsFlavor } from './states.js';
export { pbsOptions, type PbsConfigOptions } from './options.js';

/**
 * PBS (Pro and Torque) has no way to start a process inside a running job from the login node:
 * the task interface (pbsdsh, pbs_tmrsh) answers only to processes of the job itself, and
 * pbs_attach adopts a process into a job only on the job's own execution host, where the bridge
 * has no shell. Running the command on the login node instead would not be "in the job".
 */
const PBS_EXEC_REFUSAL =
  'PBS offers no way to run a command inside a running job from the login node (pbsdsh and pbs_tmrsh work only from inside the job, pbs_attach only on its execution host); exec is available on Slurm and direct clusters';

export interface PbsAdapterOptions {
  flavor: PbsFlavor;
  /** Torque only: 'auto' (XML, falling back to text inside the command; default), 'xml' or 'text'. */
  torqueStatusFormat?: 'auto' | 'xml' | 'text';
  /** Longest job name the server accepts (default 230 on PBS Pro, 15 on Torque; see ids.ts). */
  maxJobNameLength?: number;
  /** Render the `%p` limit of array jobs (default true; needs OpenPBS 20 / PBS Pro 2020.1 on PBS Pro). */
  arrayParallelLimit?: boolean;
  /**
   * Run a workflow factory as one array (`-J` / `-t`) whose elements the status poll follows as
   * `<seq>[<k>]` (`qstat -t`). Default: true on pbspro, false on torque, because the only Torque
   * the project can test, the slurm-wlm-torque wrappers, lists elements as separate numeric jobs
   * without their index (docs/SCHEDULERS.md); set true for a real Torque server.
   */
  nativeArrays?: boolean;
  /**
   * Hand same-cluster workflow dependencies to the scheduler (`-W depend=afterok:`). Default: true
   * on pbspro (the server deletes a job whose afterok can no longer be met), false on torque: the
   * wrappers accept afterok but qstat shows a child whose parent failed as plain `Q` forever (Slurm's
   * DependencyNeverSatisfied reason is not printed), so the engine could not tell.
   */
  nativeDependencies?: boolean;
  /** Replace the MPI launcher for some task types (see PBS_LAUNCHERS in render.ts). */
  launchers?: Partial<Record<MpiTaskType, Launcher>>;
  /** Seconds sidecars get between SIGTERM and SIGKILL at the end of a job (default 5). */
  sidecarGraceSeconds?: number;
  /** Runtime for container tasks that name none (default apptainer). */
  containerRuntime?: 'apptainer' | 'singularity';
  /**
   * Absolute directory of the PBS client commands (e.g. /opt/pbs/bin), for a login node where
   * another `qsub` comes first on the PATH (options.ts says why). Unset: commands by name.
   */
  commandDir?: string;
  /** The server's max_array_size (default 10000, PBS Pro's): larger factories become several arrays. */
  maxArraySize?: number;
}

/**
 * PBS Pro: the user's jobs, history included, as JSON (see the header comment). `$1` is the user,
 * `$2` (optional) the directory of the PBS commands (`commandDir`).
 */
export const PBSPRO_STATUS_PROGRAM = [
  'b=${2:+$2/}',
  'ids=$("${b}qselect" -x -u "$1") || exit',
  '[ -n "$ids" ] || exit 0',
  // Quoted: ids such as 123[4].server must not be globbed; xargs splits the lines itself.
  "printf '%s\\n' \"$ids\" | xargs \"${b}qstat\" -f -x -t",
].join('\n');

/**
 * Torque 'auto': XML, or `qstat -f -1` text where qstat refuses -x or -t (slurm-wlm-torque's Perl
 * Getopt says "Unknown option: x"; a C qstat built on getopt would say "invalid option"). stdout of
 * the first attempt streams through; its stderr is kept only when there is no fallback.
 * `-1` keeps each attribute on one line on real Torque; the wrappers accept and ignore it.
 */
export const TORQUE_AUTO_STATUS_PROGRAM = [
  'exec 3>&1',
  'err=$(qstat -x -t 2>&1 1>&3); rc=$?',
  'if [ "$rc" -eq 2 ] && printf \'%s\\n\' "$err" | grep -qE "Unknown option|invalid option"; then exec qstat -f -1; fi',
  '[ -z "$err" ] || printf \'%s\\n\' "$err" >&2',
  'exit "$rc"',
].join('\n');

/**
 * PBS array elements as `qstat -t` prints them: `123[4].server` of the array qsub answered
 * `123[].server` for. Smaller than two elements a factory is submitted job by job: whether PBS Pro
 * accepts `-J 0-0` is not verified (docs/SCHEDULERS.md), and one job needs no array.
 */
export const PBS_ARRAYS: NativeArrays = {
  elementId: pbsArrayElementId,
  parseElementId: parsePbsArrayElementId,
  minElements: 2,
};

/** PBS Pro's default server attribute max_array_size. */
const PBS_DEFAULT_MAX_ARRAY_SIZE = 10000;

/** A PBS command by name, or under `commandDir` when one is configured. */
export function pbsCommand(commandDir: string | undefined): (name: string) => string {
  return (name) => (commandDir ? `${commandDir}/${name}` : name);
}

function checkUser(user: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(user)) {
    throw new BridgeError('INVALID_CONFIG', `"${user}" is not a valid cluster user name`, { context: { field: 'user' } });
  }
  return user;
}

function checkIds(ids: readonly string[]): readonly string[] {
  for (const id of ids) {
    if (!/^\d+(?:\[\d*\])?(?:\.[A-Za-z0-9._-]+)?$/.test(id)) throw new BridgeError('INTERNAL', `"${id}" is not a PBS job id`, { context: { nativeId: id } });
  }
  return ids;
}

export function createPbsAdapter(options: PbsAdapterOptions): SchedulerAdapter {
  const { flavor } = options;
  const torqueFormat = options.torqueStatusFormat ?? 'auto';
  const dir = options.commandDir?.replace(/\/+$/, '');
  const cmd = pbsCommand(dir);

  const statusArgv = (user: string): string[] => {
    const u = checkUser(user);
    if (flavor === 'pbspro') return ['bash', '-c', PBSPRO_STATUS_PROGRAM, 'hpcb-pbs-status', u, ...(dir ? [dir] : [])];
    if (torqueFormat === 'xml') return [cmd('qstat'), '-x', '-t'];
    if (torqueFormat === 'text') return [cmd('qstat'), '-f', '-1'];
    // The Torque fallback program names qstat by name; with a commandDir it runs with that first on PATH.
    if (dir) return ['env', `PATH=${dir}:/usr/local/bin:/usr/bin:/bin`, 'bash', '-c', TORQUE_AUTO_STATUS_PROGRAM, 'hpcb-pbs-status'];
    return ['bash', '-c', TORQUE_AUTO_STATUS_PROGRAM, 'hpcb-pbs-status'];
  };

  const arrays = options.nativeArrays ?? flavor === 'pbspro';
  const adapter: SchedulerAdapter = {
    name: 'pbs',
    // PBS Pro's and Torque's commands share their names, and a login node may carry both (Slurm's
    // Torque wrappers in /usr/bin): the engine asks which one answers before its first submit.
    probe: { command: flavorProbeCommand(dir), judge: (r) => judgeFlavor(flavor, parseFlavorProbe(r), dir) },
    execRefusal: PBS_EXEC_REFUSAL,
    // qsub refuses an array with more subjobs than the server's max_array_size, so a larger
    // factory goes as several arrays.
    ...(arrays ? { arrays: { ...PBS_ARRAYS, maxElements: options.maxArraySize ?? PBS_DEFAULT_MAX_ARRAY_SIZE } } : {}),
    ...((options.nativeDependencies ?? flavor === 'pbspro') ? { nativeDependencies: true } : {}),
    // MoM kills a job's processes one at a time, children first. On the real OpenPBS a MoM
    // restart killed a task's `sleep`; its shell ran its next line and exited 0, and the runner
    // wrote its exit file and an end record with status 0 before its own SIGTERM came, while
    // the server ended the job with Exit_status -4 (or, for a rerunnable job, ran it again). So
    // on PBS the end record is a hint to ask the server, never the job's end by itself. Torque's
    // MoM kills by session the same way (its test here is Slurm's wrappers, so not seen on it).
    endRecordNeedsScheduler: true,
    normalizeId: normalizePbsId,

    // ---- The script: #PBS directives + the common runner (adapters/common/runner.ts) ----
    renderScript(spec: JobSpec, ctx: ScriptContext): string {
      return renderPbsScript(spec, ctx, options);
    },

    submitCommand(scriptPath: string, ctx: ScriptContext): string[] {
      if (scriptPath === '' || /[\0\n]/.test(scriptPath)) throw new BridgeError('INTERNAL', `bad script path ${JSON.stringify(scriptPath)}`);
      // qsub has no `--` before the script on every version; a relative name is made explicit
      // instead so it can never be read as an option.
      const script = scriptPath.startsWith('-') ? `./${scriptPath}` : scriptPath;
      // Torque: the scheduler log paths again on the command line, for the wrappers (render.ts).
      return flavor === 'torque' ? [cmd('qsub'), ...torqueSubmitLogArgs(ctx), script] : [cmd('qsub'), script];
    },

    parseSubmit(r: ExecResult): string {
      return parseQsubOutput(r);
    },

    statusCommand(user: string): string[] {
      return statusArgv(user);
    },

    parseStatus(r: ExecResult): Observation[] {
      return parseStatusResult(r, flavor).observations;
    },

    cancelCommand(nativeIds: readonly string[]): string[] {
      if (nativeIds.length === 0) throw new BridgeError('INTERNAL', 'cancelCommand needs at least one id');
      return [cmd('qdel'), ...checkIds(nativeIds)];
    },

    parseCancel(r: ExecResult): void {
      parseQdelResult(r, flavor, [cmd('qdel')]);
    },
  };

  if (flavor === 'pbspro') {
    adapter.accountingCommand = (nativeIds: readonly string[], _user: string): string[] => {
      if (nativeIds.length === 0) throw new BridgeError('INTERNAL', 'accountingCommand needs at least one id');
      return [cmd('qstat'), '-f', '-x', ...checkIds(nativeIds)];
    };
    adapter.parseAccounting = (r: ExecResult): Map<string, FinalInfo> => parseAccountingResult(r, flavor, [cmd('qstat'), '-f', '-x']);
  }
  return adapter;
}
