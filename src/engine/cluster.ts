/**
 * What the engine needs to drive one cluster: its adapter, its transport and its settings.
 * Built by src/bridge.ts from the validated configuration.
 */
import type { SchedulerAdapter } from '../domain/adapter.js';
import type { KvFromJobs } from '../jobdir/kv.js';
import type { Transport } from '../transport/transport.js';

export interface ClusterRuntime {
  name: string;
  adapter: SchedulerAdapter;
  transport: Transport;
  /**
   * The Unix account this runtime acts as: the cluster's own account in the base runtime, a
   * job owner's account in the view forAccount gives (status queries are per account).
   */
  user: string;
  /** Absolute scratch root of this account on the cluster (`{user}` resolved); job directories live under `<root>/jobs/`. */
  scratchRoot: string;
  /**
   * The same cluster as another Unix account: that identity's transport and scratch root.
   * Absent where a runtime is built by hand with one account (tests).
   */
  forAccount?(account: string): ClusterRuntime;
  /** A monitor identity: one status command as it covers every account's jobs. */
  monitor?: ClusterRuntime;
  defaults: { queue?: string; account?: string; qos?: string };
  /** At most one status command per this interval. */
  pollIntervalMs: number;
  /** How long a job may be gone from the queue without evidence before it is `lost`. */
  lostGraceMs: number;
  /** Jobs submitted per remote command (one exec per batch). */
  submitBatchSize: number;
  /** Submissions per second at most (a token bucket; login nodes and controllers have limits). */
  submitRatePerSecond: number;
  /** Submit batches (remote programs) running at once per identity; absent: 1. */
  submitsInFlight?: number;
  /** Timeout for ordinary scheduler commands. */
  commandTimeoutMs: number;
  /**
   * Following each account's event log (src/engine/follower.ts); absent: not followed, the
   * status poll alone decides at `pollIntervalMs`.
   */
  events?: EventSettings;
  /** Timeout for a submit batch (a submit command may retry internally while the scheduler is busy). */
  submitTimeoutMs: number;
  /** How this cluster's jobs reach the key-value store; absent: they do not. */
  kvFromJobs?: KvFromJobs;
}

/** How the event log is followed. */
export interface EventSettings {
  /** Status poll interval while every follower needed is healthy (the safety net). */
  safetyPollMs: number;
  /** How often the remote program looks for appends. */
  checkMs: number;
  /** How often it says it is alive when nothing happens. */
  heartbeatMs: number;
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

/** The runtime that acts as the account a job runs as (its row's clusterUser; null: the cluster's own). */
export function runtimeForJob(rt: ClusterRuntime, job: { clusterUser: string | null }): ClusterRuntime {
  return job.clusterUser !== null && job.clusterUser !== rt.user && rt.forAccount ? rt.forAccount(job.clusterUser) : rt;
}
