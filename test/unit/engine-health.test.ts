import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/domain/errors.js';
import { HealthTracker } from '../../src/engine/health.js';
import { silentLogger } from '../../src/logging.js';

const quiet = silentLogger;

describe('cluster health', () => {
  it('is degraded by a failed status poll and only an answered poll clears it', () => {
    const h = new HealthTracker('lab', quiet(), () => 1000);
    expect(h.state.state).toBe('unknown');
    h.connected(); // reachable says nothing of the scheduler: still unknown until a poll answers
    expect(h.state.state).toBe('unknown');
    h.pollFailed(new BridgeError('SCHEDULER_ERROR', 'controller down', { transient: true }));
    expect(h.state).toMatchObject({ state: 'degraded', consecutiveFailures: 1, lastError: 'status poll: controller down' });
    h.connected(); // another command got through: the scheduler still did not answer
    expect(h.state.state).toBe('degraded');
    h.pollAnswered(12);
    expect(h.state).toMatchObject({ state: 'ok', consecutiveFailures: 0, lastError: null, lastPollMs: 12, lastOkAt: 1000 });
  });

  it("one job's failed step leaves the cluster as it was; an unreachable cluster degrades it", () => {
    const h = new HealthTracker('lab', quiet(), () => 1000);
    h.pollAnswered(5);
    h.stepFailed('stage-in', new BridgeError('REMOTE_IO', 'no space left on device', { transient: true }));
    h.stepFailed('submit', new BridgeError('COMMAND_TIMEOUT', 'submit did not finish', { transient: true }));
    expect(h.state.state).toBe('ok');
    h.stepFailed('stage-in', new BridgeError('SSH_CONNECT', 'cannot reach login', { transient: true }));
    expect(h.state).toMatchObject({ state: 'degraded', lastError: 'stage-in: cannot reach login' });
    expect(h.nextDelay(1000)).toBe(1000);
    h.stepFailed('submit', new BridgeError('CONNECTION_LOST', 'dropped', { transient: true }));
    expect(h.nextDelay(1000)).toBe(2000);
    h.connected();
    expect(h.state.state).toBe('ok');
  });
});
