/**
 * The Slurm adapter (tested against Slurm 22.05.8 on Debian 12; see
 * test/cluster/README.md and the captures in test/fixtures/slurm-22.05).
 *
 *   submit      sbatch --parsable -- <script>          (all options are #SBATCH lines)
 *   status      squeue --noheader --array --states=all --user=<u> --format=%i|%A|%F|%K|%T|%r|%j
 *   accounting  sacct --parsable2 --noheader --format=... --jobs=a,b --user=<u>
 *   cancel      scancel a b c
 *   exec        srun --jobid=<id> --overlap ... (a step inside a running job; exec.ts)
 *   submit (opt) POST /slurm/v0.0.38/job/submit to slurmrestd (rest.ts)
 */
import type { ExecResult, FinalInfo, NativeArrays, Observation, ScriptContext, SchedulerAdapter } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import type { Launcher } from '../common/runner.js';
import type { MpiTaskType } from '../common/resources.js';
import {
  parseSacctAccounting,
  parseSbatchSubmit,
  parseScancel,
  parseSqueueStatus,
  sacctCommand,
  scancelCommand,
  squeueStatusCommand,
} from './parse.js';
import { renderSlurmScript } from './render.js';
import { slurmExecInJob } from './exec.js';
import { slurmRest, type SlurmRestOptions } from './rest.js';

export interface SlurmAdapterOptions {
  /**
   * Where finished jobs are looked up once squeue forgets them (MinJobAge, 300 s by default):
   * 'slurmdbd' (default) uses sacct; 'jobcomp' uses `sacct -c` (jobcomp/filetxt: no steps, no
   * MaxRSS, array elements only under their raw ids, cancel/timeout exit codes 0:0); 'none'
   * means the cluster keeps no history and the adapter offers no accounting command.
   */
  accounting?: 'slurmdbd' | 'jobcomp' | 'none';
  /** Replace the MPI launcher for some task types (see SLURM_LAUNCHERS in render.ts). */
  launchers?: Partial<Record<MpiTaskType, Launcher>>;
  /** Seconds sidecars get between SIGTERM and SIGKILL at the end of a job (default 5). */
  sidecarGraceSeconds?: number;
  /** Runtime for container tasks that name none (default apptainer). */
  containerRuntime?: 'apptainer' | 'singularity';
  /** `#!/bin/bash` (default) or `#!/bin/bash -l` for sites that set up modules in login profiles. */
  shebang?: string;
  /** Submit through slurmrestd on this socket (rest.ts) instead of sbatch. */
  slurmrestd?: SlurmRestOptions;
  /** The controller's MaxArraySize (default 1001, Slurm's default): larger factories become several arrays. */
  maxArraySize?: number;
}

/**
 * Slurm's default MaxArraySize. sbatch refuses an array index at or above the controller's
 * MaxArraySize ("Invalid job array specification"), so indices run 0 to MaxArraySize - 1.
 */
const SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001;

/** Slurm names array element k of array 123 `123_4` in squeue, sacct and scancel. */
export const SLURM_ARRAYS: NativeArrays = {
  elementId: (arrayId, index) => `${arrayId}_${index}`,
  parseElementId(id) {
    const m = /^([0-9]+)_([0-9]+)$/.exec(id.trim());
    return m ? { arrayId: m[1]!, index: Number(m[2]) } : undefined;
  },
};

export function createSlurmAdapter(options: SlurmAdapterOptions = {}): SchedulerAdapter {
  const accounting = options.accounting ?? 'slurmdbd';
  const adapter: SchedulerAdapter = {
    name: 'slurm',
    statusForAll: true,
    arrays: { ...SLURM_ARRAYS, maxElements: options.maxArraySize ?? SLURM_DEFAULT_MAX_ARRAY_SIZE },
    // sbatch --dependency=afterok:<id>[:<id>], an array's id standing for all its elements.
    nativeDependencies: true,
    renderScript(spec: JobSpec, ctx: ScriptContext): string {
      return renderSlurmScript(spec, ctx, options);
    },
    submitCommand(scriptPath: string, _ctx: ScriptContext): string[] {
      if (scriptPath === '' || /[\0\n]/.test(scriptPath)) throw new BridgeError('INTERNAL', `bad script path ${JSON.stringify(scriptPath)}`);
      // `--` so that no script name can be read as an option (checked with sbatch 22.05.8).
      return ['sbatch', '--parsable', '--', scriptPath];
    },
    parseSubmit(r: ExecResult): string {
      return parseSbatchSubmit(r);
    },
    statusCommand(user: string | null): string[] {
      return squeueStatusCommand(user);
    },
    parseStatus(r: ExecResult): Observation[] {
      return parseSqueueStatus(r);
    },
    cancelCommand(nativeIds: readonly string[]): string[] {
      return scancelCommand(nativeIds);
    },
    parseCancel(r: ExecResult): void {
      parseScancel(r);
    },
    execInJob: slurmExecInJob,
  };
  if (options.slurmrestd) adapter.rest = slurmRest(options.slurmrestd);
  if (accounting !== 'none') {
    adapter.accountingCommand = (nativeIds: readonly string[], user: string): string[] => sacctCommand(nativeIds, user, accounting);
    adapter.parseAccounting = (r: ExecResult): Map<string, FinalInfo> => parseSacctAccounting(r, accounting);
  }
  return adapter;
}

/** The adapter with default options (slurmdbd accounting). */
export const slurmAdapter: SchedulerAdapter = createSlurmAdapter();

export { slurmOptions, type SlurmConfigOptions } from './options.js';
export { SLURM_STATES, lookupSlurmState, mapSlurmState, normalizeSlurmState } from './states.js';
export {
  expandArrayJobId,
  looksLikeMemoryKill,
  observationFromScontrol,
  parseScontrolShowJob,
  parseSlurmDuration,
  parseSlurmExitCode,
  parseSlurmJobId,
  parseSlurmMemory,
} from './parse.js';
export { SLURM_LAUNCHERS, renderSlurmScript, slurmDirectives } from './render.js';
export { parseRestSubmit, restJobFields, slurmRest, SLURMRESTD_API } from './rest.js';
