/**
 * What every step of the engine gets (a small shared context), and the few helpers they share:
 * running a command, a guarded move, and backing one job off after a failed step.
 */
import { BridgeError, isTransient } from '../domain/errors.js';
import type { JobState } from '../domain/state.js';
import { jobDirFor } from '../jobdir/layout.js';
import type { Logger } from '../logging.js';
import type { JobRecord, Store } from '../store/store.js';
import type { ExecResult } from '../transport/transport.js';
import type { ClusterRuntime } from './cluster.js';
import type { HealthTracker } from './health.js';

export const MAX_BACKOFF_MS = 60_000;

/** Hooks for the data half (Staging): run inside stage-in and stage-out. */
export interface StagingHooks {
  /** After the job directory exists and before the script is written. */
  stageIn?(job: JobRecord, jobDir: string, rt: ClusterRuntime): Promise<void>;
  /**
   * Whether stageIn has anything to do for `job`; absent: only when the job has artifacts. A
   * job whose stageIn has nothing to do gets its whole directory, script included, from the
   * round's one stream (steps/stageIn.ts).
   */
  stageInNeeded?(job: JobRecord, rt: ClusterRuntime): boolean;
  /** After the outcome is decided, before the terminal state. */
  stageOut?(job: JobRecord, jobDir: string, rt: ClusterRuntime): Promise<void>;
  /**
   * Each tick, once per account, with that account's running jobs (the key-value relay). Must
   * not throw: it changes no job's state.
   */
  whileActive?(jobs: readonly JobRecord[], rt: ClusterRuntime, jobDirOf: (job: JobRecord) => string): Promise<void>;

  /**
   * Jobs about to stage out (some waiting for a free slot): the hook may prepare their
   * stage-outs all together (one listing for many jobs) before each job's stageOut runs.
   */
  planStageOuts?(jobs: readonly { job: JobRecord; jobDir: string }[], rt: ClusterRuntime): void;
}

/** Counters for /metrics and benchmarks. */
export interface EngineCounters {
  polls: number;
  pollFailures: number;
  submitCommands: number;
  jobsSubmitted: number;
  statusCommands: number;
  accountingCommands: number;
  evidenceCommands: number;
  /** Stage-in streams (many job directories in one remote command). */
  stageInStreams: number;
  /** Submissions sent to the scheduler's REST daemon. */
  restSubmits: number;
}

export interface StepContext {
  rt: ClusterRuntime;
  store: Store;
  log: Logger;
  now: () => number;
  /** The database instance id (part of job directories and tags). */
  instance: string;
  counters: EngineCounters;
  health: HealthTracker;
  staging: StagingHooks | undefined;
  stagingConcurrency: number;
  /** True once the loop was asked to stop. */
  stopped: () => boolean;
  /** Failed batch commands in a row, per step (retryBatchLater). */
  batchFailures: Map<string, number>;
}

/** The Unix account a job runs as (rows from before identities: the cluster's own account). */
export function accountOf(ctx: StepContext, job: Pick<JobRecord, 'clusterUser'>): string {
  return job.clusterUser ?? ctx.rt.user;
}

/** The context whose remote commands run as `account` (its transport and its scratch root). */
export function asAccount(ctx: StepContext, account: string): StepContext {
  if (account === ctx.rt.user || !ctx.rt.forAccount) return ctx;
  return { ...ctx, rt: ctx.rt.forAccount(account) };
}

/** Jobs grouped by the account they run as, in first-seen order. */
export function byAccount<T extends Pick<JobRecord, 'clusterUser'>>(ctx: StepContext, jobs: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const j of jobs) {
    const a = accountOf(ctx, j);
    const g = groups.get(a);
    if (g) g.push(j);
    else groups.set(a, [j]);
  }
  return groups;
}

export function jobDir(ctx: StepContext, job: Pick<JobRecord, 'id'>): string {
  return jobDirFor(ctx.rt.scratchRoot, ctx.instance, job.id);
}

/** Run a command on the cluster; its transport's answer (or silence) feeds the cluster's health. */
export async function exec(ctx: StepContext, argv: readonly string[], timeoutMs = ctx.rt.commandTimeoutMs, stdin?: string | Buffer): Promise<ExecResult> {
  const r = await ctx.rt.transport.exec(argv, { timeoutMs, ...(stdin !== undefined ? { stdin } : {}) });
  ctx.health.connected();
  return r;
}

/** Apply a transition, treating "someone else moved it" as a no-op. */
export function move(ctx: StepContext, job: JobRecord, from: readonly JobState[], to: JobState, patch: Parameters<Store['transition']>[3] = {}, reason?: string, detail?: unknown): JobRecord | undefined {
  try {
    return ctx.store.transition(job.id, from, to, { stepFailures: 0, retryAt: null, lastError: null, ...patch }, reason, detail);
  } catch (e) {
    if (e instanceof BridgeError && e.code === 'STALE_STATE') return undefined;
    throw e;
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A step failed for one job: transient -> retry with backoff; permanent -> fail after a few tries. */
export function stepFailed(ctx: StepContext, job: JobRecord, step: string, e: unknown, maxPermanent = 3): void {
  const msg = message(e);
  const failures = job.stepFailures + 1;
  if (!isTransient(e) && failures >= maxPermanent) {
    move(ctx, job, [job.state], 'failed', { statusReason: `${step} failed: ${msg}`, lastError: msg }, `${step} failed`, { error: msg });
    return;
  }
  const backoff = Math.min(1000 * 2 ** Math.min(failures, 6), MAX_BACKOFF_MS) * (0.75 + Math.random() * 0.5);
  ctx.store.update(job.id, [job.state], { stepFailures: failures, retryAt: ctx.now() + backoff, lastError: msg });
  ctx.health.stepFailed(step, e);
}

/**
 * A command for a batch of jobs failed with an unknown outcome: try those jobs again later, and
 * later still each time in a row it fails, without counting a failure against any of them
 * (the submit step's try number must stay the same, so its records on the cluster decide).
 */
export function retryBatchLater(ctx: StepContext, jobs: readonly JobRecord[], step: string, e: unknown): void {
  ctx.health.stepFailed(step, e);
  const round = (ctx.batchFailures.get(step) ?? 0) + 1;
  ctx.batchFailures.set(step, round);
  const backoff = Math.min(1000 * 2 ** Math.min(round, 6), MAX_BACKOFF_MS) * (0.75 + Math.random() * 0.5);
  const lastError = `${step}: ${message(e)}`;
  for (const job of jobs) ctx.store.update(job.id, [job.state], { retryAt: ctx.now() + backoff, lastError });
}

/** A batch command of `step` answered: its next failure starts the backoff afresh. */
export function batchOk(ctx: StepContext, step: string): void {
  ctx.batchFailures.delete(step);
}
