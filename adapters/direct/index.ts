/**
 * The `direct` adapter: no batch system. A job is the same batch script as on Slurm or PBS,
 * started as a detached session (setsid) on the login node or the local machine through the
 * same transport, tracked by its PID, and judged by the same exit-code files. It is the
 * embedded default (a working daemon on a fresh machine with no cluster) and what a
 * workstation or a cluster without a scheduler gets.
 *
 * Limits: walltime is enforced with coreutils `timeout` (TERM, then KILL 10 s later); the
 * wrapper records the enforcement in `.hpcb/limit` so the engine can say "walltime exceeded".
 * CPU and memory requests are recorded in HPCB_* variables but not enforced: an unprivileged
 * process cannot create cgroups on most systems, and address-space limits (ulimit -v) break
 * runtimes that reserve large virtual ranges (JVM, V8, Go).
 */
import type { ExecResult, Observation, SchedulerAdapter, ScriptContext } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import { mpiRanks } from '../common/resources.js';
import { runnerOptionShape } from '../common/options.js';
import { renderRunner, type Launcher, type RunnerOptions } from '../common/runner.js';
import { z } from 'zod';

/** What a cluster file's `adapter:` block may set for `scheduler: direct`. */
export const directOptions = z.strictObject({ ...runnerOptionShape });
export type DirectAdapterOptions = z.infer<typeof directOptions>;

/** Tags are `hb<6 hex>-<job>-<attempt>` (src/engine/tag.ts); the wrapper's argv carries it. */
const TAG_RE = /\bhb[0-9a-f]{6}-\d+-\d+\b/;

const launcher: Launcher = (type, task, spec) => {
  if (type === 'srun') {
    throw new BridgeError('INVALID_DEFINITION', 'invalid job definition: tasks: task type "srun" needs a Slurm cluster', {
      context: { field: 'tasks', problems: [{ field: 'tasks', message: 'task type "srun" needs a Slurm cluster' }] },
    });
  }
  // Without a scheduler, MPI starts its ranks on this host only.
  return ['mpirun', '-np', String(mpiRanks(task, spec))];
};

/**
 * Started as `bash -c WRAPPER hpcb-direct <script> <tag> <walltime seconds>`; prints the PID,
 * which is the job's session id: cancel signals everything the job started (`pkill -s`),
 * including `timeout`, which moves itself into a process group of its own.
 *
 * Without a walltime the script itself leads the session: a background subshell (never a
 * process group leader, so `setsid` needs no fork of its own) exports its PID and execs
 * `setsid bash <script>`: one bash per job fewer than a session shell that runs the script.
 * HUP is ignored before the fork and stays ignored through both execs.
 */
const WRAPPER = [
  'script=$1; tag=$2; wall=$3',
  // Parameter expansion, not dirname: every fork counts when trivial jobs start by the hundred.
  'hd=${script%/*}',
  'cd -- "$hd/.." || exit 1',
  'trap "" HUP',
  'if [ "$wall" -gt 0 ]; then',
  '  setsid bash -c \'',
  // This bash leads the new session: its PID is the session id the job is known by.
  '    export HPCB_DIRECT_SID=$$',
  '    timeout -s TERM -k 10 "$3" bash "$1" "$2"; rc=$?',
  '    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then printf "walltime\\n" > "${1%/*}/limit"; fi',
  '    exit "$rc"',
  '  \' hpcb-direct-job "$script" "$tag" "$wall" > "$hd/scheduler.out" 2> "$hd/scheduler.err" < /dev/null &',
  'else',
  '  ( export HPCB_DIRECT_SID=$BASHPID; exec setsid bash "$script" "$tag" ) > "$hd/scheduler.out" 2> "$hd/scheduler.err" < /dev/null &',
  'fi',
  'echo "$!"',
].join('\n');

/**
 * The job's id is the PID of the setsid'd wrapper, which is also its session id. The wrapper
 * passes it down (no ps and tr per job); a script started some other way asks ps.
 */
const DIRECT_ID_EXPR = '${HPCB_DIRECT_SID:-$(ps -o sid= -p $$ | tr -d " ")}';

const CANCEL = 'for p in "$@"; do pkill -TERM -s "$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done; exit 0';

export function createDirectAdapter(options: DirectAdapterOptions = {}): SchedulerAdapter {
  const runnerOpts: RunnerOptions = { launcher, nativeIdExpr: DIRECT_ID_EXPR };
  if (options.sidecarGraceSeconds !== undefined) runnerOpts.sidecarGraceSeconds = options.sidecarGraceSeconds;
  if (options.containerRuntime !== undefined) runnerOpts.containerRuntime = options.containerRuntime;
  return { ...DIRECT, renderScript: (spec, ctx) => renderDirectScript(spec, ctx, runnerOpts) };
}

function renderDirectScript(spec: JobSpec, ctx: ScriptContext, runnerOpts: RunnerOptions): string {
  if (spec.resources.nodes > 1) {
    throw new BridgeError('INVALID_DEFINITION', 'invalid job definition: resources.nodes: a cluster without a scheduler runs on one node', {
      context: { field: 'resources.nodes', problems: [{ field: 'resources.nodes', message: 'a cluster without a scheduler runs on one node' }] },
    });
  }
  return `#!/bin/bash\n# hpc-bridge job ${ctx.bridgeJobId} (${ctx.tag}), attempt ${ctx.attempt}, run without a scheduler\n${renderRunner(spec, ctx, runnerOpts)}`;
}

const DIRECT: SchedulerAdapter = {
  name: 'direct',

  renderScript(spec: JobSpec, ctx: ScriptContext): string {
    return renderDirectScript(spec, ctx, { launcher, nativeIdExpr: DIRECT_ID_EXPR });
  },

  submitCommand(scriptPath: string, ctx: ScriptContext): string[] {
    return ['bash', '-c', WRAPPER, 'hpcb-direct', scriptPath, ctx.tag, String(ctx.walltimeSeconds ?? 0)];
  },

  parseSubmit(r: ExecResult): string {
    const pid = r.stdout.trim().split('\n').at(-1)?.trim();
    if (r.exitCode !== 0 || !pid || !/^\d+$/.test(pid)) {
      throw new BridgeError('SUBMIT_REJECTED', `could not start the job: ${r.stderr.trim() || `exit status ${r.exitCode}`}`, {
        context: { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr },
      });
    }
    return pid;
  },

  statusCommand(): string[] {
    // -ww: never truncate args, where the tag is.
    return ['ps', '-ww', '-e', '-o', 'pid=,stat=,args='];
  },

  parseStatus(r: ExecResult): Observation[] {
    if (r.exitCode !== 0) {
      throw new BridgeError('SCHEDULER_ERROR', `ps failed: ${r.stderr.trim() || `exit status ${r.exitCode}`}`, {
        transient: true,
        context: { exitCode: r.exitCode, stderr: r.stderr },
      });
    }
    const out: Observation[] = [];
    for (const line of r.stdout.split('\n')) {
      const m = /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const [, pid, stat, args] = m as unknown as [string, string, string, string];
      const tag = TAG_RE.exec(args)?.[0];
      if (!tag) continue;
      // A zombie has finished; some init processes reap late, so it is not "running".
      if (stat.startsWith('Z')) continue;
      out.push({ nativeId: pid, name: tag, state: stat.startsWith('T') ? 'suspended' : 'running', nativeState: stat });
    }
    return out;
  },

  nativeStateFromTestimony(t: { exitCode: number | null; terminatedBy: string | null }): string | undefined {
    // What ps last showed of a finished process, in words: it exited with a status, or a signal ended it.
    if (t.terminatedBy) return `signalled:${t.terminatedBy.split(/\s+/)[0]}`;
    return t.exitCode === null ? undefined : `exited:${t.exitCode}`;
  },

  cancelCommand(nativeIds: readonly string[]): string[] {
    return ['sh', '-c', CANCEL, 'hpcb-cancel', ...nativeIds];
  },

  parseCancel(): void {
    // Signalling a process that already ended is not an error.
  },

  // The job's "allocation" is this machine: the command runs beside it, in its directory, under
  // the inner program's own time limit (there is no scheduler to add a second one).
  execInJob(_nativeId: string, inner: readonly string[]): string[] {
    return [...inner];
  },
};

/** The adapter with default options. */
export const directAdapter: SchedulerAdapter = createDirectAdapter();
