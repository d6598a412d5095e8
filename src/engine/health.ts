/**
 * A cluster's health, as /healthz and /metrics show it. It changes only on what says something
 * about the cluster as a whole: a status poll (answered or failed) and the transport (a command
 * that could not reach the cluster, or one that got through after that). One job's failed step
 * says nothing about the others and only backs that job off (steps/common.ts).
 */
import { BridgeError } from '../domain/errors.js';
import type { Logger } from '../logging.js';
import type { ClusterHealth } from './cluster.js';

import { MAX_BACKOFF_MS } from './context.js';

/** Codes of errors whose cause is the cluster being unreachable, not the command or the job. */
const CONNECTION_CODES = new Set(['SSH_CONNECT', 'SSH_HOST_KEY', 'SSH_AUTH', 'CONNECTION_LOST', 'CHANNEL_OPEN', 'CLUSTER_UNAVAILABLE']);

export function isConnectionFailure(e: unknown): boolean {
  return e instanceof BridgeError && CONNECTION_CODES.has(e.code);
}

export class HealthTracker {
  readonly state: ClusterHealth;
  /**
   * What made the cluster degraded: only an answered poll clears a failed poll, and only a
   * probe that agrees with the configuration clears a disagreeing one.
   */
  private cause: 'poll' | 'connection' | 'config' | null = null;

  constructor(
    cluster: string,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {
    this.state = { cluster, state: 'unknown', consecutiveFailures: 0, lastOkAt: null, lastError: null, lastPollMs: null };
  }

  get degraded(): boolean {
    return this.state.state === 'degraded';
  }

  /** A status poll answered. */
  pollAnswered(durationMs: number): void {
    this.state.lastPollMs = durationMs;
    this.ok();
  }

  /** A status poll failed (the scheduler or the transport did not answer). */
  pollFailed(e: unknown): void {
    this.fail('status poll', e, 'poll');
  }

  /** A command reached the cluster: ends a degradation the transport caused (nothing else). */
  connected(): void {
    if (this.cause === 'connection') this.ok();
  }

  /**
   * The scheduler that answers is not the configured one (steps/probe.ts). Returns true the first
   * time in a row, so the caller logs it once rather than at every retry.
   */
  misconfigured(message: string): boolean {
    const first = this.cause !== 'config';
    this.fail('scheduler probe', new Error(message), 'config');
    this.cause = 'config';
    return first;
  }

  /** The probe agreed with the configuration: ends a degradation a disagreeing probe caused. */
  configured(): void {
    if (this.cause === 'config') this.ok();
  }

  /** A step failed; only a connection failure says anything about the cluster. */
  stepFailed(step: string, e: unknown): void {
    if (isConnectionFailure(e)) this.fail(step, e, 'connection');
  }

  /** The loop's pause before the next tick: the poll interval, longer while degraded. */
  nextDelay(pollIntervalMs: number): number {
    const base = Math.min(pollIntervalMs, 1000);
    if (!this.degraded) return base;
    const k = Math.min(this.state.consecutiveFailures, 8);
    return Math.min(pollIntervalMs * 2 ** (k - 1), MAX_BACKOFF_MS);
  }

  private ok(): void {
    const h = this.state;
    if (h.state === 'degraded') this.log.info({ cluster: h.cluster, after: h.consecutiveFailures }, 'cluster reachable again');
    h.state = 'ok';
    h.consecutiveFailures = 0;
    h.lastOkAt = this.now();
    h.lastError = null;
    this.cause = null;
  }

  private fail(step: string, e: unknown, cause: 'poll' | 'connection' | 'config'): void {
    const h = this.state;
    const msg = e instanceof Error ? e.message : String(e);
    if (h.state !== 'degraded') this.log.warn({ cluster: h.cluster, step, err: msg }, 'cluster degraded: no job state changes until it answers again');
    h.state = 'degraded';
    h.consecutiveFailures++;
    h.lastError = `${step}: ${msg}`;
    if (this.cause !== 'poll') this.cause = cause;
  }
}
