/**
 * The key-value store from inside running jobs, as hooks the engine calls:
 *
 * - stage-in: the job gets the helper (`$HPCB_KV`) and, where the cluster reaches the daemon
 *   (`daemonUrlFromJobs`), a credential of its own: a token for the key-value routes of its
 *   owner, stored hashed, written to `.hpcb/kv/token` through the install program's stdin;
 * - each tick, for running jobs of a relay cluster: the requests jobs left in their directories
 *   are applied as their owner and answered in files (relay.ts);
 * - stage-out: the credential is revoked.
 *
 * Nothing here may fail a job: a hook that cannot do its part logs and leaves the job alone.
 */
import type { JobTokens } from '../auth/jobTokens.js';
import type { ClusterRuntime } from '../engine/cluster.js';
import type { StagingHooks } from '../engine/loop.js';
import { BridgeError } from '../domain/errors.js';
import { kvInstallProgram } from '../jobdir/kv.js';
import type { Logger } from '../logging.js';
import type { KvConfig } from '../settings/schema.js';
import type { JobRecord } from '../store/store.js';
import { KvRelay } from './relay.js';
import type { KeyValueService } from './service.js';

/** States in which a job may still use its credential: it is, or may already be, running. */
const LIVE_STATES = new Set(['submitting', 'queued', 'running']);
/** After a started job's walltime, how long its credential still works (clock skew, stage-out of the script itself). */
const WALLTIME_GRACE_MS = 10 * 60_000;

/** Whether job `job` may still use its key-value credential at `now`. */
export function jobMayUseKv(job: Pick<JobRecord, 'state' | 'startedAt' | 'spec'> | undefined, now: number): boolean {
  if (!job || !LIVE_STATES.has(job.state)) return false;
  const walltime = job.spec.resources.walltime;
  if (job.startedAt !== null && walltime !== undefined && now > job.startedAt + walltime * 60_000 + WALLTIME_GRACE_MS) return false;
  return true;
}

export class KvJobAccess implements StagingHooks {
  private readonly relay: KvRelay;

  constructor(
    private readonly tokens: JobTokens,
    kv: KeyValueService,
    private readonly limits: KvConfig,
    private readonly log: Logger,
    now: () => number = Date.now,
  ) {
    this.relay = new KvRelay(kv, log, now);
  }

  async stageIn(job: JobRecord, jobDir: string, rt: ClusterRuntime): Promise<void> {
    const access = rt.kvFromJobs;
    if (!access) return;
    const token = access.daemonUrl ? this.tokens.issue(job.id, job.owner, this.limits.jobCredentialHours * 3_600_000) : '';
    const r = await rt.transport.exec(kvInstallProgram(jobDir), { timeoutMs: rt.commandTimeoutMs, stdin: token });
    if (r.exitCode !== 0) {
      // The job must not start with half its access: stage-in is retried (transient).
      throw new BridgeError('REMOTE_IO', `could not install the key-value helper in ${jobDir}`, { transient: true, context: { cluster: rt.name, jobId: job.id, exitCode: r.exitCode, stderr: r.stderr } });
    }
  }

  /** The relay round for one account's running jobs. */
  async whileActive(jobs: readonly JobRecord[], rt: ClusterRuntime, jobDirOf: (job: JobRecord) => string): Promise<void> {
    if (!rt.kvFromJobs || rt.kvFromJobs.daemonUrl) return;
    try {
      await this.relay.round(jobs, rt, jobDirOf);
    } catch (e) {
      // The requests stay in the job directories; the next round tries again.
      this.log.warn({ cluster: rt.name, account: rt.user, err: e instanceof Error ? e.message : String(e) }, 'key-value relay round failed');
    }
  }

  /**
   * Revoke the job's credential. A relay cluster gets no last round here: the helper waits for
   * each answer, so a job cannot end with a request pending unless the helper was killed while
   * it waited (walltime, cancel), and such a request is dropped with the job rather than
   * applied after the job was stopped. This saves one remote command per job.
   */
  stageOut(job: JobRecord, _jobDir: string, rt: ClusterRuntime): Promise<void> {
    if (rt.kvFromJobs) this.tokens.revokeJob(job.id);
    return Promise.resolve();
  }
}

/** Staging's hooks and the key-value hooks as one (the credential is revoked before the outputs come back). */
export function withKvHooks(staging: StagingHooks | undefined, kv: KvJobAccess): StagingHooks {
  return {
    // The helper (and credential) are installed per job, so such a job's script waits for them.
    stageInNeeded: (job, rt) => rt.kvFromJobs !== undefined || (staging?.stageInNeeded ? staging.stageInNeeded(job, rt) : job.spec.artifacts.length > 0),
    stageIn: async (job, dir, rt) => {
      await staging?.stageIn?.(job, dir, rt);
      await kv.stageIn(job, dir, rt);
    },
    stageOut: async (job, dir, rt) => {
      await kv.stageOut(job, dir, rt);
      await staging?.stageOut?.(job, dir, rt);
    },
    whileActive: (jobs, rt, jobDirOf) => kv.whileActive(jobs, rt, jobDirOf),
    // Every other hook of staging's passes through: one listing program for many stage-outs.
    ...(staging?.planStageOuts ? { planStageOuts: (jobs, rt) => staging.planStageOuts!(jobs, rt) } : {}),
  };
}
