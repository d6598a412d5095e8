/**
 * What the engine needs to drive one cluster: its adapter, its transport and its settings.
 * Built by src/bridge.ts from the validated configuration.
 */
import type { SchedulerAdapter } from '../domain/adapter.js';
import type { Transport } from '../transport/transport.js';

export interface ClusterRuntime {
  name: string;
  adapter: SchedulerAdapter;
  transport: Transport;
  /** The cluster account the bridge submits as (status queries are per user). */
  user: string;
  /** Absolute scratch root on the cluster; job directories live under `<root>/jobs/`. */
  scratchRoot: string;
  defaults: { queue?: string; account?: string; qos?: string };
  /** At most one status command per this interval. */
  pollIntervalMs: number;
  /** How long a job may be gone from the queue without evidence before it is `lost`. */
  lostGraceMs: number;
  /** Jobs submitted per remote command (one exec per batch). */
  submitBatchSize: number;
  /** Submissions per second at most (a token bucket; login nodes and controllers have limits). */
  submitRatePerSecond: number;
  /** Timeout for ordinary scheduler commands. */
  commandTimeoutMs: number;
  /** Timeout for a submit batch (a submit command may retry internally while the scheduler is busy). */
  submitTimeoutMs: number;
}

export type ClusterHealthState = 'unknown' | 'ok' | 'degraded';

export interface ClusterHealth {
  cluster: string;
  state: ClusterHealthState;
  consecutiveFailures: number;
  lastOkAt: number | null;
  lastError: string | null;
  lastPollMs: number | null;
}
