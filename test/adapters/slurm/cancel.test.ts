import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../../src/domain/errors.js';
import { slurmAdapter } from '../../../adapters/slurm/index.js';
import { fixtureWithExit } from '../../helpers/fixtures.js';
import { fromFixture, result } from './helpers.js';

describe('scancel', () => {
  it('cancels a batch of ids in one command, and only ids', () => {
    expect(slurmAdapter.cancelCommand(['9', '11_4', '12_[1-3]'])).toEqual(['scancel', '9', '11_4', '12_[1-3]']);
    expect(() => slurmAdapter.cancelCommand(['-u', 'hpcuser'])).toThrow(BridgeError);
    expect(() => slurmAdapter.cancelCommand([])).toThrow(BridgeError);
  });

  it.each(['slurm-22.05/03c-scancel.txt', 'slurm-22.05/03c-cancelpending-scancel.txt', 'slurm-22.05/10k-scancel-unknown.txt'])(
    '%s: silent exit 0, also for an unknown id',
    (rel) => {
      const r = fromFixture(rel);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe('\n');
      expect(() => slurmAdapter.parseCancel(r)).not.toThrow();
      expect(fixtureWithExit(rel).body.trim()).toBe('');
    },
  );

  it('per-job "already gone" errors are not a failed cancel; anything else is', () => {
    expect(() =>
      slurmAdapter.parseCancel(result('', 1, 'scancel: error: Kill job error on job id 5: Invalid job id specified\nscancel: error: Kill job error on job id 6: Job/step already completing or completed\n')),
    ).not.toThrow();
    const denied = (() => {
      try {
        slurmAdapter.parseCancel(result('', 1, 'scancel: error: Kill job error on job id 5: Access/permission denied\n'));
      } catch (e) {
        return e as BridgeError;
      }
      throw new Error('expected an error');
    })();
    expect(denied.code).toBe('SCHEDULER_ERROR');
    expect(denied.transient).toBe(false);
    expect(denied.message).toContain('Access/permission denied');
    expect(() => slurmAdapter.parseCancel(result('', 1, 'scancel: error: Socket timed out on send/recv operation\n'))).toThrow(
      expect.objectContaining({ transient: true }) as unknown as Error,
    );
    expect(() => slurmAdapter.parseCancel(result('', null))).toThrow(expect.objectContaining({ transient: true }) as unknown as Error);
  });
});
