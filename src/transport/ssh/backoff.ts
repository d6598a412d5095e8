/**
 * When to try connecting again. Login nodes ban clients that open connections in a storm
 * (fail2ban, sshd MaxStartups), so every attempt, successful or not, is spaced by at least
 * `minIntervalMs`, and consecutive failures back off exponentially. Jitter keeps a fleet of
 * daemons that lost the same node at the same moment from reconnecting in lockstep.
 */
export interface ReconnectPolicy {
  /** Delay after the first failure; doubles with each further consecutive failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Minimum time between the starts of two connection attempts. */
  minIntervalMs: number;
  /** 0..1: the share of the backoff that is randomised away (0.5 waits 50-100% of it). */
  jitter: number;
}

export const DEFAULT_RECONNECT_POLICY: ReconnectPolicy = {
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  minIntervalMs: 2000,
  jitter: 0.5,
};

/**
 * Milliseconds to wait before the next connection attempt.
 * @param failures consecutive failed attempts so far (0 after a success or at start)
 * @param sinceLastAttemptMs time since the previous attempt started (Infinity if none)
 */
export function reconnectDelayMs(
  failures: number,
  sinceLastAttemptMs: number,
  policy: ReconnectPolicy,
  random: () => number = Math.random,
): number {
  let backoff = 0;
  if (failures > 0) {
    const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(failures - 1, 30));
    backoff = exp * (1 - policy.jitter * random());
  }
  const spacing = policy.minIntervalMs - sinceLastAttemptMs;
  return Math.max(0, Math.ceil(Math.max(backoff, spacing)));
}

/** Backoff for re-opening a refused channel: base * 2^attempt (25, 50, 100, … ms by default). */
export function channelRetryDelayMs(attempt: number, baseMs: number): number {
  return baseMs * 2 ** attempt;
}
