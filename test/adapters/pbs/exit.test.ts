import { describe, expect, it } from 'vitest';
import { interpretExitStatus, negativeExitCodes, signalName } from '../../../adapters/pbs/exit.js';

describe('Exit_status interpretation', () => {
  it.each([
    // value, flavor, kind, exitCode, signal, reason starts with
    [0, 'pbspro', 'completed', 0, null, 'exit status 0'],
    [1, 'pbspro', 'failed', 1, null, 'exit status 1'],
    [3, 'torque', 'failed', 3, null, 'exit status 3'],
    [127, 'torque', 'failed', 127, null, 'exit status 127'],
    [128, 'pbspro', 'failed', 128, null, 'exit status 128'],
    [137, 'pbspro', 'failed', 137, null, 'exit status 137 (128+9: a command in the script was killed by signal 9 (SIGKILL))'],
    [143, 'torque', 'failed', 143, null, 'exit status 143 (128+15'],
    [254, 'pbspro', 'failed', 254, null, 'exit status 254: execve() failed'],
    [254, 'torque', 'failed', 254, null, 'exit status 254'],
    [255, 'torque', 'failed', 255, null, 'exit status 255'],
    [256, 'pbspro', 'failed', null, null, 'exit status 256 (not a known encoding)'],
    [265, 'pbspro', 'failed', null, 9, 'killed by signal 9 (SIGKILL)'],
    [265, 'torque', 'failed', null, 9, 'killed by signal 9 (SIGKILL)'],
    [271, 'pbspro', 'failed', null, 15, 'killed by signal 15 (SIGTERM)'],
    [271, 'torque', 'failed', null, 15, 'killed by signal 15 (SIGTERM)'],
    [267, 'torque', 'failed', null, 11, 'killed by signal 11 (SIGSEGV)'],
    [999, 'pbspro', 'failed', null, null, 'exit status 999 (not a known encoding)'],
    [-1, 'pbspro', 'failed', null, null, 'job could not be started'],
    [-3, 'pbspro', 'node_fail', null, null, 'node failure'],
    [-3, 'torque', 'node_fail', null, null, 'node failure'],
    [-11, 'pbspro', 'preempted', null, null, 'job was rerun'],
    [-11, 'torque', 'timeout', null, null, 'walltime exceeded'],
    [-10, 'pbspro', 'failed', null, null, 'job could not be started: invalid user or group'],
    [-10, 'torque', 'out_of_memory', null, null, 'memory limit exceeded'],
    [-14, 'pbspro', 'node_fail', null, null, 'node failure'],
    [-19, 'pbspro', 'cancelled', null, null, 'a site hook deleted the job'],
    [-20, 'pbspro', 'node_fail', null, null, 'node failure'],
    [-25, 'pbspro', 'failed', null, null, 'cpu limit exceeded'],
    [-26, 'pbspro', 'out_of_memory', null, null, 'memory limit exceeded (virtual memory)'],
    [-27, 'pbspro', 'out_of_memory', null, null, 'memory limit exceeded'],
    [-28, 'pbspro', 'failed', null, null, 'cpu time limit exceeded'],
    [-29, 'pbspro', 'timeout', null, null, 'walltime exceeded'],
    [-29, 'torque', 'failed', null, null, 'PBS could not run the job (Exit_status -29, not a known JOB_EXEC code)'],
    [-8, 'pbspro', 'failed', null, null, 'PBS could not run the job (Exit_status -8, not a known JOB_EXEC code)'],
    [-8, 'torque', 'failed', null, null, 'job could not be started: exec() of the job script failed'],
    [-12, 'torque', 'failed', null, null, 'cpu time limit exceeded'],
  ] as const)('%i on %s → %s', (value, flavor, kind, exitCode, signal, reason) => {
    const ex = interpretExitStatus(value, flavor);
    expect(ex.kind).toBe(kind);
    expect(ex.exitCode).toBe(exitCode);
    expect(ex.signal).toBe(signal);
    expect(ex.reason.startsWith(reason), ex.reason).toBe(true);
    expect(ex.raw).toBe(value);
  });

  it('names the JOB_EXEC code in the reason of a negative status', () => {
    expect(interpretExitStatus(-29, 'pbspro')).toMatchObject({ pbsCode: 'JOB_EXEC_KILL_WALLTIME', reason: 'walltime exceeded (Exit_status -29, JOB_EXEC_KILL_WALLTIME)' });
    expect(interpretExitStatus(-27, 'pbspro').pbsCode).toBe('JOB_EXEC_KILL_MEM');
    expect(interpretExitStatus(-11, 'torque').pbsCode).toBe('JOB_EXEC_OVERLIMIT_WT');
  });

  it('keeps the signal of a command inside the script apart from a kill of the job', () => {
    expect(interpretExitStatus(137, 'pbspro')).toMatchObject({ signal: null, childSignal: 9, exitCode: 137 });
    expect(interpretExitStatus(265, 'pbspro')).toMatchObject({ signal: 9, exitCode: null });
    expect(interpretExitStatus(265, 'pbspro').childSignal).toBeUndefined();
  });

  it('reads the text PBS printed, and never guesses at text that is not a number', () => {
    expect(interpretExitStatus(' 271 ', 'torque').signal).toBe(15);
    expect(interpretExitStatus('-3', 'torque').kind).toBe('node_fail');
    expect(interpretExitStatus('+0', 'pbspro').kind).toBe('completed');
    for (const bad of ['', 'abc', '1.5', '0x10']) expect(interpretExitStatus(bad, 'pbspro').kind).toBe('unknown');
  });

  it('covers every JOB_EXEC code of each flavor, with the documented ranges', () => {
    const pbspro = Object.keys(negativeExitCodes('pbspro')).map(Number).sort((a, b) => b - a);
    const torque = Object.keys(negativeExitCodes('torque')).map(Number).sort((a, b) => b - a);
    // OpenPBS job.h: -1..-7 and -10..-30 (no -8, -9).
    expect(pbspro).toEqual([-1, -2, -3, -4, -5, -6, -7, ...Array.from({ length: 21 }, (_, i) => -10 - i)]);
    // Torque: -1..-14.
    expect(torque).toEqual(Array.from({ length: 14 }, (_, i) => -1 - i));
    for (const [code, e] of Object.entries(negativeExitCodes('pbspro'))) expect(e.name, code).toMatch(/^JOB_EXEC_/);
    for (const [code, e] of Object.entries(negativeExitCodes('torque'))) expect(e.name, code).toMatch(/^JOB_EXEC_/);
  });

  it('names the common signals', () => {
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(15)).toBe('SIGTERM');
    expect(signalName(40)).toBeUndefined();
    expect(interpretExitStatus(256 + 40, 'pbspro').reason).toBe('killed by signal 40 (Exit_status 296 = 256+40)');
  });
});
