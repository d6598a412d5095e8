/**
 * One engine per cluster: a loop that runs the steps (steps/*.ts) in order, each tick, and
 * pauses between ticks (longer while the cluster is degraded). It only orders the steps; each
 * step moves jobs forward one guarded transition at a time:
 *
 *   cancels before submission -> scheduler probe (once) -> workflow gate -> status poll (one
 *   command per identity with jobs in the queue, or one for all as the monitor identity; slow
 *   while the event followers are healthy) -> what the event log said (start, end) ->
 *   finishing (testimony + accounting, batched) -> stage-out (beside the loop) -> stage-in ->
 *   submit (one batch per tick, rate-limited, exactly once) -> array instances follow their
 *   carrier -> cancels on the scheduler -> the key-value relay (a staging hook) -> carriers close
 *
 * Truthfulness rules:
 *   - a failed status poll or an unreachable cluster changes no job's state; the cluster is
 *     marked degraded and the loop backs off, then resumes by itself (health.ts);
 *   - a job that left the queue is only terminal when its exit file or accounting says how it
 *     ended; otherwise it waits out a grace window and then fails as "lost";
 *   - every remote command of a job runs as the Unix account the job was submitted as (its
 *     owner's identity), so one user's steps never touch another's files on the cluster;
 *   - every step is idempotent, so a daemon restarted at any instant resumes from the
 *     persisted state (the submit program of src/jobdir makes the submit itself exactly-once).
 */
import { COMMAND_SECONDS_BUCKETS, Histogram } from '../domain/histogram.js';
import type { JobState } from '../domain/state.js';
import type { Logger } from '../logging.js';
import type { JobRecord, Store } from '../store/store.js';
import type { ClusterHealth, ClusterRuntime } from './cluster.js';
import { accountOf, asAccount, byAccount, jobDir, type EngineCounters, type StagingHooks, type StepContext } from './context.js';
import { HealthTracker } from './health.js';
import { EventFollowers, type FollowerStats } from './follower.js';
import { AccountingFill } from './steps/accountingFill.js';
import { closeCarriers, linkArrayInstances } from './steps/arrays.js';
import { applyEvents, awaitsScheduler } from './steps/events.js';
import { cancelBeforeSubmit } from './steps/cancelBeforeSubmit.js';
import { NativeCancels } from './steps/cancelNative.js';
import { finish } from './steps/finish.js';
import { applyStatus, readStatus } from './steps/poll.js';
import { ProbeGate } from './steps/probe.js';
import { stageIn } from './steps/stageIn.js';
import { StageOuts } from './steps/stageOut.js';
import { submit, TokenBucket } from './steps/submit.js';
import { gateWorkflowJobs } from './steps/workflowGate.js';
import { WorkflowRows } from './workflowRows.js';

export type { StagingHooks } from './context.js';

/** Stage-in rounds one tick runs at most before it submits (see tick()). */
const STAGE_IN_PASSES = 3;

export interface ReconcilerOptions {
  now?: () => number;
  staging?: StagingHooks;
  /** Concurrent stage-in/stage-out steps per cluster. */
  stagingConcurrency?: number;
  /** How long stop() lets stage-outs in flight finish before the transport is closed under them. */
  stopGraceMs?: number;
}

export class Reconciler {
  /** Counters for /metrics and benchmarks. */
  readonly counters: EngineCounters = { polls: 0, pollFailures: 0, submitCommands: 0, jobsSubmitted: 0, statusCommands: 0, accountingCommands: 0, evidenceCommands: 0, stageInStreams: 0, restSubmits: 0 };
  /** Duration of every status poll that answered, in seconds (/metrics renders it). */
  readonly pollSeconds = new Histogram(COMMAND_SECONDS_BUCKETS);
  private readonly tracker: HealthTracker;
  private readonly ctx: StepContext;
  private readonly bucket: TokenBucket;
  private readonly cancels = new NativeCancels();
  private readonly stageOuts: StageOuts;
  private readonly probe = new ProbeGate();
  private stopped = true;
  private loop: Promise<void> | undefined;
  /** Ends the pause between ticks early (set while the loop pauses). */
  private interrupt: (() => void) | undefined;
  /** Something happened during a tick: run the next one without a pause. */
  private woken = false;
  private lastPollAt = 0;
  private readonly followers: EventFollowers | undefined;
  private readonly accountingFill = new AccountingFill();

  constructor(
    readonly rt: ClusterRuntime,
    store: Store,
    log: Logger,
    private readonly opts: ReconcilerOptions = {},
  ) {
    const now = opts.now ?? Date.now;
    this.tracker = new HealthTracker(rt.name, log, now);
    this.ctx = {
      rt,
      store,
      log,
      now,
      instance: store.instanceId(),
      counters: this.counters,
      health: this.tracker,
      staging: opts.staging,
      stagingConcurrency: opts.stagingConcurrency ?? 8,
      stopped: () => this.stopped,
      batchFailures: new Map(),
    };
    this.bucket = new TokenBucket(rt.submitRatePerSecond, now);
    this.stageOuts = new StageOuts(this.ctx, () => this.wake());
    if (rt.events && rt.transport.stream) this.followers = new EventFollowers(this.ctx, rt.events, () => this.wake());
  }

  /** What the event followers read so far (undefined: the cluster's log is not followed). */
  get followerStats(): FollowerStats | undefined {
    return this.followers?.stats;
  }

  /** Whether `account`'s follower is up and heard from lately (for /metrics and tests). */
  followerHealthy(account: string): boolean {
    return this.followers?.healthy(account) ?? false;
  }

  /** Close one account's follower channel; it comes back by itself from its stored offset. */
  restartFollower(account: string): void {
    this.followers?.restart(account);
  }

  get health(): ClusterHealth {
    return this.tracker.state;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    // Jobs already in the queue (a restart) are asked about at once; otherwise the first poll
    // is due one interval from now, so a job that ends before it is learned from its record.
    this.lastPollAt = this.ctx.store.activeOnCluster(this.rt.name).some(pollable) ? 0 : this.ctx.now();
    this.loop = this.run();
  }

  /** Stop after the current tick; jobs on the cluster keep running and resume at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.interrupt?.();
    await this.loop;
    await this.followers?.stop();
    await this.accountingFill.idle();
    // Give transfers in flight a moment to finish (a small output usually does); a large one is
    // cut off when the transport closes and resumes at the next start.
    await this.stageOuts.drain(this.opts.stopGraceMs ?? 5000);
  }

  /**
   * Something happened that a step acts on (a job created or cancelled through the API, a
   * stage-out done, a job seen finished): the next tick runs at once instead of at the next
   * interval, or right after the one running now. Calls coalesce: many wakes during one tick
   * make one more tick, which sees everything they announced.
   */
  wake(): void {
    this.woken = true;
    this.interrupt?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tick();
      } catch (e) {
        // tick() handles its own errors; this is a bug guard so the loop never dies silently.
        this.ctx.log.error({ err: e }, 'reconciler tick crashed');
      }
      if (this.stopped) break;
      const delay = this.tracker.nextDelay(this.rt.pollIntervalMs);
      if (this.woken) {
        this.woken = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.interrupt = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.interrupt = undefined;
      this.woken = false;
    }
  }

  async tick(): Promise<void> {
    const { ctx, rt } = this;
    const now = ctx.now();
    const active = () => ctx.store.activeOnCluster(rt.name);
    const due = (j: { retryAt: number | null }) => (j.retryAt ?? 0) <= now;
    let jobs = active();
    this.followers?.ensure(followedAccounts(ctx, jobs));
    this.accountingFill.run(ctx);
    if (jobs.length === 0) return;

    cancelBeforeSubmit(ctx, jobs);
    // Which scheduler answers, asked as the first job's account before anything reaches it.
    if (!(await this.probe.ready(asAccount(ctx, accountOf(ctx, jobs[0]!))))) return;
    const ready = gateWorkflowJobs(ctx, active(), new WorkflowRows(ctx.store));
    jobs = active();

    // At most one status command per poll interval for each identity with jobs in the queue
    // (or one for all with a monitor identity), or sooner when a submission with an unknown
    // outcome needs to look for its tag.
    const needsAdoption = jobs.some((j) => j.state === 'submitting' && j.stepFailures > 0 && due(j));
    const inQueue = jobs.some(pollable);
    // Identities whose status could not be read: nothing of theirs moves this tick.
    const unread = new Set<string>();
    if ((inQueue && now - this.lastPollAt >= this.pollInterval(jobs, now)) || needsAdoption) {
      const polled = await this.pollAll(jobs, unread);
      if (polled !== null) {
        this.lastPollAt = polled;
        this.pollSeconds.observe((this.health.lastPollMs ?? 0) / 1000);
      }
      if (unread.size > 0 && polled === null) return; // could not ask at all: change nothing, back off
    }
    applyEvents(ctx, active());
    // Every remote command of a job runs as its owner's identity: one group of steps per account.
    // Each step reads back only the states it acts on (what the steps before it left there).
    const groups = (...states: JobState[]) =>
      [...byAccount(ctx, ctx.store.activeOnCluster(rt.name, states))].filter(([account]) => !unread.has(account)).map(([account, js]) => [asAccount(ctx, account), js] as const);

    // Jobs the poll found gone are judged before new ones go out: a round of stage-in and submit
    // can take seconds, and their outcomes (and stage-outs) should not wait behind it.
    for (const [as, js] of groups('finishing')) await finish(as, js.filter((j) => j.kind === 'job' && j.state === 'finishing' && due(j)));
    for (const [as, js] of groups('staging_out')) this.stageOuts.start(js.filter((j) => j.kind === 'job' && j.state === 'staging_out' && due(j) && !this.stageOuts.has(j.id)), as);
    // Jobs created while a stage-in round is out (a loop creating its next round of jobs at
    // once, each POST a moment after the other) are staged in by another pass of this tick, so
    // they go out with this tick's submission instead of waiting a whole stage-in and submit
    // for the next one. The passes are few: a steady stream of new jobs must not hold back the
    // submission of those already staged.
    let staged = 0;
    for (let pass = 0; pass < STAGE_IN_PASSES; pass++) {
      let took = 0;
      for (const [as, js] of groups('accepted', 'staging_in')) {
        const these = js.filter((j) => ((j.state === 'accepted' && (j.workflowId === null || ready.has(j.id))) || (j.state === 'staging_in' && pass === 0)) && due(j));
        took += these.length;
        staged += await stageIn(as, these);
      }
      if (took === 0 || ctx.stopped()) break;
    }
    // A carrier stages in once all its instances have: in this tick, so that its submission
    // follows in the same pass instead of a tick later (seconds, with 10,000 instances).
    const waitingCarriers = staged > 0 ? active().filter((j) => j.kind === 'array' && j.state === 'accepted') : [];
    if (waitingCarriers.length > 0) {
      const carriers = gateWorkflowJobs(ctx, waitingCarriers, new WorkflowRows(ctx.store));
      for (const [as, js] of groups('accepted')) await stageIn(as, js.filter((j) => carriers.has(j.id) && due(j)));
    }
    // Array instances are never submitted themselves: their carrier is the one submission.
    for (const [as, js] of groups('submitting')) {
      if (await submit(as, this.bucket, js.filter((j) => j.state === 'submitting' && j.arrayJobId === null && due(j)))) this.woken = true;
    }
    linkArrayInstances(ctx);

    for (const [as, js] of groups('queued', 'running')) {
      // A carrier is cancelled through its elements.
      const cancelled = await this.cancels.run(as, js.filter((j) => j.kind === 'job' && j.cancelRequestedAt !== null && j.nativeId && (j.state === 'queued' || j.state === 'running')));
      if (cancelled) this.lastPollAt = 0; // look again soon
    }
    // The key-value relay: once per account with running jobs; it changes no job's state.
    const whileActive = ctx.staging?.whileActive;
    if (whileActive) {
      for (const [as, js] of groups('running')) {
        const live = js.filter((j) => j.kind === 'job' && j.state === 'running');
        if (live.length > 0) await whileActive.call(ctx.staging, live, as.rt, (j) => jobDir(as, j));
      }
    }
    closeCarriers(ctx);
  }

  /**
   * The status poll is the safety net while every account with jobs in the queue has a healthy
   * follower and no job waits for the scheduler's word: it runs at the slow interval. Otherwise
   * (a follower down, a job whose script was signalled or whose exit file is not there yet, a
   * queue that stopped moving) it runs at the cluster's own interval.
   */
  private pollInterval(jobs: readonly JobRecord[], now: number): number {
    const { rt } = this;
    if (!this.followers || !rt.events) return rt.pollIntervalMs;
    const lastStartAt = jobs.reduce((t, j) => Math.max(t, j.startedAt ?? 0), 0);
    if (jobs.some((j) => awaitsScheduler(j, now, rt.pollIntervalMs, lastStartAt, rt.adapter.endRecordNeedsScheduler === true))) return rt.pollIntervalMs;
    for (const account of byAccount(this.ctx, jobs.filter(pollable)).keys()) {
      if (!this.followers.healthy(account)) return rt.pollIntervalMs;
    }
    return Math.max(rt.pollIntervalMs, rt.events.safetyPollMs);
  }

  /**
   * The status round: one command as the monitor identity for every account's jobs where the
   * cluster has one, else one per account with jobs in the queue (or a submission to adopt),
   * each as that account. Accounts whose status could not be read go into `unread`. Returns
   * when the earliest answered command started, or null when none answered.
   */
  private async pollAll(jobs: readonly JobRecord[], unread: Set<string>): Promise<number | null> {
    const { ctx, rt } = this;
    const groups = byAccount(ctx, jobs.filter((j) => pollable(j) || (j.state === 'submitting' && j.stepFailures > 0)));
    let answered: number | null = null;
    const note = (t: number) => (answered = answered === null ? t : Math.min(answered, t));
    if (rt.monitor && rt.adapter.statusForAll) {
      const status = await readStatus({ ...ctx, rt: rt.monitor }, null);
      for (const [account, js] of groups) {
        if (!status) unread.add(account);
        else if (!(await applyStatus(asAccount(ctx, account), js, status)).ok) unread.add(account);
      }
      if (status) note(status.started);
      return answered;
    }
    for (const [account, js] of groups) {
      const as = asAccount(ctx, account);
      const status = await readStatus(as, account);
      if (!status) {
        unread.add(account);
        continue;
      }
      note(status.started);
      if (!(await applyStatus(as, js, status)).ok) unread.add(account);
    }
    return answered;
  }
}

/** Jobs a status poll looks at: in the queue, or sent to finishing by an end record alone. */
function pollable(j: JobRecord): boolean {
  return j.state === 'queued' || j.state === 'running' || (j.state === 'finishing' && j.absentSince === null && j.eventPhase === 'end');
}

/** Accounts whose jobs may still append a record: from stage-in until their outcome is decided. */
function followedAccounts(ctx: StepContext, jobs: readonly JobRecord[]): Set<string> {
  const states = new Set(['staging_in', 'submitting', 'queued', 'running', 'finishing']);
  return new Set(byAccount(ctx, jobs.filter((j) => states.has(j.state))).keys());
}
