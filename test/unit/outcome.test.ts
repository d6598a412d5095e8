import { describe, expect, it } from 'vitest';
import type { FinalInfo } from '../../src/domain/adapter.js';
import { parseJobSpec } from '../../src/domain/jobSpec.js';
import { decideOutcome, type DecisionInput } from '../../src/engine/outcome.js';
import type { Evidence } from '../../src/jobdir/evidence.js';

const spec = parseJobSpec({ tasks: [{ cmd: 'a' }, { cmd: 'b' }], resources: { walltime: 1 } });
const ev = (p: Partial<Evidence> = {}): Evidence => ({ noDir: false, exitCode: null, failedTask: null, started: true, terminatedBy: null, limit: null, nativeId: null, taskExitCodes: [null, null], memoryKill: false, complete: true, ...p });
const fin = (kind: FinalInfo['kind'], p: Partial<FinalInfo> = {}): FinalInfo => ({ kind, nativeState: kind.toUpperCase(), ...p });
const base: DecisionInput = { spec, cancelRequested: false, presetOutcome: null, evidence: ev(), final: null, sinceGoneMs: 0, graceMs: 60_000 };
const decide = (p: Partial<DecisionInput>) => decideOutcome({ ...base, ...p });

describe('decideOutcome', () => {
  it('completed only on the job’s own exit 0', () => {
    const d = decide({ evidence: ev({ exitCode: 0, taskExitCodes: [0, 0] }), final: fin('completed', { exitCode: 0 }) });
    expect(d).toMatchObject({ kind: 'decided', outcome: { status: 'completed' }, taskExitCodes: [0, 0] });
  });

  it('failed with the task and code in the reason', () => {
    const d = decide({ evidence: ev({ exitCode: 3, failedTask: 1, taskExitCodes: [0, 3] }), final: fin('failed', { exitCode: 3 }) });
    expect(d).toMatchObject({ kind: 'decided', outcome: { status: 'failed', reason: 'task 2 exited with code 3', exitCode: 3 } });
  });

  it('walltime and memory limits are killed, whatever the exit file says', () => {
    expect(decide({ evidence: ev({ exitCode: 143 }), final: fin('timeout') })).toMatchObject({ outcome: { status: 'killed', reason: 'walltime of 1 minute exceeded' } });
    expect(decide({ evidence: ev({ exitCode: 137 }), final: fin('out_of_memory') })).toMatchObject({ outcome: { status: 'killed', reason: 'memory limit exceeded' } });
    // polling enforcement: FAILED 0:9 plus the message in stderr
    expect(decide({ evidence: ev({ memoryKill: true }), final: fin('failed', { exitCode: 0, signal: 9 }) })).toMatchObject({ outcome: { status: 'killed', reason: 'memory limit exceeded' } });
  });

  it('a task that could not start says why, naming its image (.hpcb/failure)', () => {
    const pspec = parseJobSpec({ tasks: [{ cmd: 'a', image: 'localhost/x:1', runtime: 'podman' }, { cmd: 'b', image: 'localhost/gone:2', runtime: 'podman' }] });
    const failure = { what: 'image-missing', task: 1 };
    expect(decide({ spec: pspec, evidence: ev({ exitCode: 125, failedTask: 1, taskExitCodes: [0, 125], failure }), final: fin('failed', { exitCode: 125 }) })).toMatchObject({
      outcome: { status: 'failed', reason: 'container image "localhost/gone:2" is not available to podman on the node (it is never pulled); task 2 did not run', exitCode: 125 },
    });
    // A failure file of another task than the one that failed is not this job's reason.
    expect(decide({ spec: pspec, evidence: ev({ exitCode: 3, failedTask: 0, taskExitCodes: [3, null], failure }) })).toMatchObject({ outcome: { reason: 'task 1 exited with code 3' } });
  });

  it('user cancel is deleted; a job that finished first stays completed', () => {
    expect(decide({ cancelRequested: true, final: fin('cancelled') })).toMatchObject({ outcome: { status: 'deleted', reason: 'cancelled by user' } });
    expect(decide({ cancelRequested: true, evidence: ev({ exitCode: 0 }), final: fin('completed', { exitCode: 0 }) })).toMatchObject({ outcome: { status: 'completed' } });
    const preset = { status: 'failed' as const, reason: 'maximum time in queue of 1 minute exceeded' };
    expect(decide({ cancelRequested: true, presetOutcome: preset, final: fin('cancelled') })).toMatchObject({ outcome: preset });
  });

  it('a vanished job is never a success: it waits for the grace window, then is lost', () => {
    expect(decide({ evidence: ev({ started: false }), final: null, sinceGoneMs: 1000 })).toMatchObject({ kind: 'wait' });
    expect(decide({ evidence: ev({ started: false }), final: null, sinceGoneMs: 61_000 })).toMatchObject({
      kind: 'decided',
      outcome: { status: 'failed', reason: expect.stringMatching(/^lost/) },
    });
    // the scheduler's word alone that it completed is not enough without the exit file
    expect(decide({ evidence: ev({ started: true }), final: fin('completed', { exitCode: 0 }), sinceGoneMs: 1000 })).toMatchObject({ kind: 'wait' });
    expect(decide({ evidence: ev({ started: true }), final: fin('completed', { exitCode: 0 }), sinceGoneMs: 61_000 })).toMatchObject({ outcome: { status: 'failed' } });
  });

  it('uses accounting’s exit code when the script never wrote one', () => {
    const d = decide({ evidence: ev({ started: false }), final: fin('failed', { exitCode: 1 }), sinceGoneMs: 0 });
    expect(d).toMatchObject({ outcome: { status: 'failed', reason: 'job script exited with code 1 (from accounting)', retryable: true } });
  });

  it('node failures are retryable, a job’s own non-zero exit is not', () => {
    expect(decide({ final: fin('node_fail') })).toMatchObject({ outcome: { status: 'failed', reason: 'node failure', retryable: true } });
    const d = decide({ evidence: ev({ exitCode: 2, failedTask: 0 }) });
    // The kind first: a `wait` here is itself the failure, not a pass.
    expect(d.kind).toBe('decided');
    if (d.kind !== 'decided') return;
    expect(d.outcome).toMatchObject({ status: 'failed', exitCode: 2 });
    expect(d.outcome.retryable ?? false).toBe(false);
  });
});

describe('decideOutcome without an exit file', () => {
  it('a signal kill reported by the scheduler is a failure with that reason, not "lost"', () => {
    const d = decide({ evidence: ev({ started: true }), final: fin('failed', { exitCode: null, signal: 9, reason: 'killed by signal 9 (SIGKILL)' }), sinceGoneMs: 61_000 });
    expect(d).toMatchObject({ kind: 'decided', outcome: { status: 'failed', reason: 'job killed by signal 9 (FAILED) without an exit-code file' } });
  });
});
