/**
 * walltimeFromRunnerClock (src/engine/outcome.ts): a walltime kill told from the runner's own
 * stamps when the scheduler does not say how the job ended (the Torque wrappers print C with no
 * exit status). The numbers below are the stamps of a real walltime kill on the test cluster
 * (`.hpcb/started` 1795711786, `.hpcb/terminated` "TERM 1795711859 0": 73 s for a 60 s walltime).
 */
import { describe, expect, it } from 'vitest';
import type { FinalInfo } from '../../src/domain/adapter.js';
import { parseJobSpec } from '../../src/domain/jobSpec.js';
import { walltimeFromRunnerClock } from '../../src/engine/outcome.js';
import { decideOutcome } from '../../src/engine/outcome.js';
import type { Evidence } from '../../src/jobdir/evidence.js';

const spec = parseJobSpec({ tasks: [{ cmd: 'sleep 600' }], resources: { walltime: 1 } });
const ev = (p: Partial<Evidence> = {}): Evidence => ({
  noDir: false, exitCode: null, failedTask: null, started: true, startedEpoch: 1795711786, terminatedBy: 'TERM 1795711859 0',
  limit: null, taskExitCodes: [null], memoryKill: false, complete: true, ...p,
}) as Evidence;
const C: FinalInfo = { kind: 'unknown', nativeState: 'C', exitCode: null, reason: 'finished (state C) with no exit status' };

describe('walltime from the runner clock', () => {
  it('SIGTERM after the walltime was used up, scheduler silent: timeout, keeping the native state', () => {
    const f = walltimeFromRunnerClock(spec, ev(), C);
    expect(f).toMatchObject({ kind: 'timeout', nativeState: 'C' });
    expect(f!.reason).toMatch(/SIGTERM after 73 s of a 60 s walltime/);
    const d = decideOutcome({ spec, cancelRequested: false, presetOutcome: null, evidence: ev(), final: f, sinceGoneMs: 0, graceMs: 30_000 });
    expect(d).toMatchObject({ kind: 'decided', outcome: { status: 'killed', reason: 'walltime of 1 minute exceeded' } });
  });

  it('also when the job was never seen finished (final null): the native state is left empty', () => {
    expect(walltimeFromRunnerClock(spec, ev(), null)).toMatchObject({ kind: 'timeout', nativeState: '' });
  });

  it('changes nothing when it cannot be sure', () => {
    // SIGTERM well before the walltime (an admin's qdel, a node shutdown)
    expect(walltimeFromRunnerClock(spec, ev({ terminatedBy: 'TERM 1795711800 0' }), C)).toBe(C);
    // no walltime requested, an exit file, no start stamp, another signal
    expect(walltimeFromRunnerClock(parseJobSpec({ tasks: [{ cmd: 'x' }] }), ev(), C)).toBe(C);
    expect(walltimeFromRunnerClock(spec, ev({ exitCode: 0 }), C)).toBe(C);
    expect(walltimeFromRunnerClock(spec, ev({ startedEpoch: null }), C)).toBe(C);
    expect(walltimeFromRunnerClock(spec, ev({ terminatedBy: 'INT 1795711859 0' }), C)).toBe(C);
    // a scheduler that said how the job ended is believed
    const failed: FinalInfo = { kind: 'failed', nativeState: 'FAILED', exitCode: 1 };
    expect(walltimeFromRunnerClock(spec, ev(), failed)).toBe(failed);
  });
});
