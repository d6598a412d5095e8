/**
 * What a PBS `Exit_status` (PBS Pro) / `exit_status` (Torque) says about how a job ended.
 *
 * The value has four ranges, with flavor differences:
 *
 *   X = 0          the top process (the job shell) exited 0.
 *   1 ≤ X ≤ 255    the job shell's own exit status. 128+N is what bash returns when a command it
 *                  ran was killed by signal N (137 = a child got SIGKILL, often the OOM killer),
 *                  so it is still the script's code, not a statement about the job. PBS Pro
 *                  documents 254 as an execve() failure (the script or its interpreter could not
 *                  be executed); Torque gives 254 no special meaning.
 *   X > 256        the job shell itself was killed by signal X-256: MoM adds 0x100 to the signal
 *                  number. PBS Pro: qdel, and walltime/memory enforcement, end jobs this way
 *                  (265 = SIGKILL, 271 = SIGTERM). Torque behaves the same (265 in Adaptive's
 *                  tracejob example of a walltime kill, 271 in our pbspro_qstat_f_aiida_unexpected_newlines
 *                  fixture for a job in state C), although its exit-status page never says so.
 *                  The number alone cannot tell qdel from a limit kill: parse.ts compares
 *                  resources_used with Resource_List to refine it, and the engine knows its own qdels.
 *   X < 0          PBS's own JOB_EXEC_* codes: MoM could not start the job, or killed it for a limit.
 *
 * Negative codes, and where they were checked:
 *   PBS Pro/OpenPBS: read from OpenPBS src/include/job.h (JOB_EXEC_FAIL1 -1 … JOB_EXEC_JOINJOB -30;
 *     -8 and -9 are not defined there). The -25/-27/-29 values also appear in CESNET MetaCentrum's
 *     user docs as what users see for ncpus/mem/walltime kills.
 *   Torque: -1 … -10 read from adaptivecomputing/torque src/include/pbs_job.h (older trees call -10
 *     JOB_EXEC_OVERLIMIT for any limit); -11 … -14 from Adaptive Computing's 6.1.2 exit-code list
 *     (OVERLIMIT_WT, OVERLIMIT_CPUT, RETRY_CGROUP, RETRY_PROLOGUE), not from source.
 */
import type { FinalKind } from '../../src/domain/adapter.js';
import type { PbsFlavor } from './states.js';

export interface ExitInterpretation {
  kind: FinalKind;
  /** The job script's exit status, when there is one (null for signals and PBS-internal codes). */
  exitCode: number | null;
  /** The signal that killed the job shell, when that is what the value encodes. */
  signal: number | null;
  /** For 129..192: the signal that probably killed a command inside the script. Not a kill of the job. */
  childSignal?: number;
  /** For negative values: the JOB_EXEC_* name. */
  pbsCode?: string;
  /** A human reason, starting with the phrase the UI shows ("walltime exceeded", "killed by signal 9", …). */
  reason: string;
  /** The raw value, as PBS printed it. */
  raw: number;
}

interface NegativeCode {
  name: string;
  kind: FinalKind;
  reason: string;
}

/** OpenPBS src/include/job.h. */
const PBSPRO_NEGATIVE: Readonly<Record<number, NegativeCode>> = {
  [-1]: { name: 'JOB_EXEC_FAIL1', kind: 'failed', reason: 'job could not be started (failed before its files were set up; not retried)' },
  [-2]: { name: 'JOB_EXEC_FAIL2', kind: 'failed', reason: 'job could not be started (failed after its files were set up; not retried)' },
  [-3]: { name: 'JOB_EXEC_RETRY', kind: 'node_fail', reason: 'node failure: job could not be started on its node (PBS retry code)' },
  [-4]: { name: 'JOB_EXEC_INITABT', kind: 'node_fail', reason: 'node failure: job aborted while MoM initialised' },
  [-5]: { name: 'JOB_EXEC_INITRST', kind: 'node_fail', reason: 'node failure: job aborted while MoM initialised (checkpoint, no migrate)' },
  [-6]: { name: 'JOB_EXEC_INITRMG', kind: 'node_fail', reason: 'node failure: job aborted while MoM initialised (checkpoint, migrate allowed)' },
  [-7]: { name: 'JOB_EXEC_BADRESRT', kind: 'failed', reason: 'job restart from checkpoint failed' },
  [-10]: { name: 'JOB_EXEC_FAILUID', kind: 'failed', reason: 'job could not be started: invalid user or group on the execution host' },
  [-11]: { name: 'JOB_EXEC_RERUN', kind: 'preempted', reason: 'job was rerun (requeued) by PBS' },
  [-12]: { name: 'JOB_EXEC_CHKP', kind: 'preempted', reason: 'job was checkpointed and killed' },
  [-13]: { name: 'JOB_EXEC_FAIL_PASSWORD', kind: 'failed', reason: 'job could not be started: bad password' },
  [-14]: { name: 'JOB_EXEC_RERUN_SIS_FAIL', kind: 'node_fail', reason: 'node failure: lost contact with a sister node' },
  [-15]: { name: 'JOB_EXEC_QUERST', kind: 'preempted', reason: 'job requeued for restart from checkpoint' },
  [-16]: { name: 'JOB_EXEC_FAILHOOK_RERUN', kind: 'failed', reason: 'job start rejected by a site hook (requeue requested)' },
  [-17]: { name: 'JOB_EXEC_FAILHOOK_DELETE', kind: 'cancelled', reason: 'job start rejected by a site hook, which deleted it' },
  [-18]: { name: 'JOB_EXEC_HOOK_RERUN', kind: 'failed', reason: 'a site hook requested a requeue' },
  [-19]: { name: 'JOB_EXEC_HOOK_DELETE', kind: 'cancelled', reason: 'a site hook deleted the job' },
  [-20]: { name: 'JOB_EXEC_RERUN_MS_FAIL', kind: 'node_fail', reason: 'node failure: the server lost contact with the primary execution host' },
  [-21]: { name: 'JOB_EXEC_FAIL_SECURITY', kind: 'failed', reason: 'job could not be started: security check of the PBS directory failed' },
  [-22]: { name: 'JOB_EXEC_HOOKERROR', kind: 'failed', reason: 'job could not be started: a site hook failed or timed out' },
  [-23]: { name: 'JOB_EXEC_FAIL_KRB5', kind: 'failed', reason: 'job could not be started: no Kerberos credentials' },
  [-24]: { name: 'JOB_EXEC_KILL_NCPUS_BURST', kind: 'failed', reason: 'cpu limit exceeded: used more CPUs than requested (burst)' },
  [-25]: { name: 'JOB_EXEC_KILL_NCPUS_SUM', kind: 'failed', reason: 'cpu limit exceeded: used more CPUs than requested (sum)' },
  [-26]: { name: 'JOB_EXEC_KILL_VMEM', kind: 'out_of_memory', reason: 'memory limit exceeded (virtual memory)' },
  [-27]: { name: 'JOB_EXEC_KILL_MEM', kind: 'out_of_memory', reason: 'memory limit exceeded' },
  [-28]: { name: 'JOB_EXEC_KILL_CPUT', kind: 'failed', reason: 'cpu time limit exceeded' },
  [-29]: { name: 'JOB_EXEC_KILL_WALLTIME', kind: 'timeout', reason: 'walltime exceeded' },
  [-30]: { name: 'JOB_EXEC_JOINJOB', kind: 'node_fail', reason: 'node failure: sister nodes could not join the job' },
};

/** Torque src/include/pbs_job.h (-1…-10) and Adaptive Computing's 6.1.2 exit-code list (-11…-14). */
const TORQUE_NEGATIVE: Readonly<Record<number, NegativeCode>> = {
  [-1]: { name: 'JOB_EXEC_FAIL1', kind: 'failed', reason: 'job could not be started (failed before its files were set up; not retried)' },
  [-2]: { name: 'JOB_EXEC_FAIL2', kind: 'failed', reason: 'job could not be started (failed after its files were set up; not retried)' },
  [-3]: { name: 'JOB_EXEC_RETRY', kind: 'node_fail', reason: 'node failure: job could not be started on its node (Torque retry code)' },
  [-4]: { name: 'JOB_EXEC_INITABT', kind: 'node_fail', reason: 'node failure: job aborted while MoM initialised' },
  [-5]: { name: 'JOB_EXEC_INITRST', kind: 'node_fail', reason: 'node failure: job aborted while MoM initialised (checkpoint, no migrate)' },
  [-6]: { name: 'JOB_EXEC_INITRMG', kind: 'node_fail', reason: 'node failure: job aborted while MoM initialised (checkpoint, migrate allowed)' },
  [-7]: { name: 'JOB_EXEC_BADRESRT', kind: 'failed', reason: 'job restart from checkpoint failed' },
  [-8]: { name: 'JOB_EXEC_CMDFAIL', kind: 'failed', reason: 'job could not be started: exec() of the job script failed' },
  [-9]: { name: 'JOB_EXEC_STDOUTFAIL', kind: 'failed', reason: 'job could not be started: could not create its stdout/stderr files' },
  // Torque < 4 called -10 JOB_EXEC_OVERLIMIT (any limit); parse.ts turns it into a timeout when the
  // recorded walltime reached the request.
  [-10]: { name: 'JOB_EXEC_OVERLIMIT_MEM', kind: 'out_of_memory', reason: 'memory limit exceeded' },
  [-11]: { name: 'JOB_EXEC_OVERLIMIT_WT', kind: 'timeout', reason: 'walltime exceeded' },
  [-12]: { name: 'JOB_EXEC_OVERLIMIT_CPUT', kind: 'failed', reason: 'cpu time limit exceeded' },
  [-13]: { name: 'JOB_EXEC_RETRY_CGROUP', kind: 'node_fail', reason: "node failure: could not create the job's cgroups" },
  [-14]: { name: 'JOB_EXEC_RETRY_PROLOGUE', kind: 'node_fail', reason: 'node failure: the prologue failed' },
};

/** Linux signal numbers (x86/arm) the reasons name. */
const SIGNAL_NAMES: Readonly<Record<number, string>> = {
  1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE',
  9: 'SIGKILL', 10: 'SIGUSR1', 11: 'SIGSEGV', 12: 'SIGUSR2', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM',
  24: 'SIGXCPU', 25: 'SIGXFSZ',
};

export function signalName(n: number): string | undefined {
  return SIGNAL_NAMES[n];
}

function signalText(n: number): string {
  const name = SIGNAL_NAMES[n];
  return name ? `signal ${n} (${name})` : `signal ${n}`;
}

/** The JOB_EXEC_* table of a flavor, for docs and tests. */
export function negativeExitCodes(flavor: PbsFlavor): Readonly<Record<number, NegativeCode>> {
  return flavor === 'pbspro' ? PBSPRO_NEGATIVE : TORQUE_NEGATIVE;
}

/**
 * Interpret an exit status value. `raw` may be the string PBS printed; anything that is not an
 * integer is reported as 'unknown' rather than guessed.
 */
export function interpretExitStatus(raw: number | string, flavor: PbsFlavor): ExitInterpretation {
  const text = typeof raw === 'number' ? String(raw) : raw.trim();
  if (!/^[+-]?\d+$/.test(text)) {
    return { kind: 'unknown', exitCode: null, signal: null, reason: `unreadable exit status "${text}"`, raw: Number.NaN };
  }
  const x = Number(text);

  if (x === 0) return { kind: 'completed', exitCode: 0, signal: null, reason: 'exit status 0', raw: x };

  if (x < 0) {
    const known = negativeExitCodes(flavor)[x];
    if (known) {
      return { kind: known.kind, exitCode: null, signal: null, pbsCode: known.name, reason: `${known.reason} (Exit_status ${x}, ${known.name})`, raw: x };
    }
    return { kind: 'failed', exitCode: null, signal: null, reason: `PBS could not run the job (Exit_status ${x}, not a known JOB_EXEC code)`, raw: x };
  }

  if (x <= 255) {
    if (flavor === 'pbspro' && x === 254) {
      return { kind: 'failed', exitCode: x, signal: null, reason: 'exit status 254: execve() failed (the job script or its interpreter could not be executed)', raw: x };
    }
    if (x > 128 && x <= 128 + 64) {
      const n = x - 128;
      return { kind: 'failed', exitCode: x, signal: null, childSignal: n, reason: `exit status ${x} (128+${n}: a command in the script was killed by ${signalText(n)})`, raw: x };
    }
    return { kind: 'failed', exitCode: x, signal: null, reason: `exit status ${x}`, raw: x };
  }

  if (x > 256 && x <= 256 + 64) {
    const n = x - 256;
    return { kind: 'failed', exitCode: null, signal: n, reason: `killed by ${signalText(n)} (Exit_status ${x} = 256+${n})`, raw: x };
  }
  return { kind: 'failed', exitCode: null, signal: null, reason: `exit status ${x} (not a known encoding)`, raw: x };
}
