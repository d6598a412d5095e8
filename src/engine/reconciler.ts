/**
 * One reconciler per cluster. Each tick it compares what the store says with what the
 * cluster says and moves jobs forward, one guarded transition at a time:
 *
 *   cancels before submission -> status poll (one command for all jobs) -> stage-in ->
 *   submit (batched, rate-limited, exactly once) -> cancels on the scheduler ->
 *   finishing (the job's exit files + accounting, batched) -> stage-out -> terminal
 *
 * Truthfulness rules:
 *   - a failed command (SSH down, scheduler down, timeout) changes no job's state; the cluster
 *     is marked degraded and the loop backs off, then resumes by itself;
 *   - a job that left the queue is only terminal when its exit file or accounting says how it
 *     ended; otherwise it waits out a grace window and then fails as "lost";
 *   - every step is idempotent, so a daemon restarted at any instant resumes from the
 *     persisted state (src/engine/remoteScripts.ts makes the submit itself exactly-once).
 */
import { COMMAND_SECONDS_BUCKETS, Histogram } from '../domain/histogram.js';
import { posix } from 'node:path';
import type { FinalInfo, Observation, ScriptContext } from '../domain/adapter.js';
import { BridgeError, isTransient } from '../domain/errors.js';
import { isTerminal, type JobState } from '../domain/state.js';
import type { Logger } from '../logging.js';
import type { JobRecord, Store } from '../store/store.js';
import type { ExecResult } from '../transport/transport.js';
import type { ClusterHealth, ClusterRuntime } from './cluster.js';
import { decideOutcome } from './outcome.js';
import { clearAttemptProgram, elementsProgram, evidenceProgram, parseElementTestimony, parseEvidenceOutput, type EvidenceItem } from '../jobdir/evidence.js';
import { FILES, HPCB_DIR, jobDirFor } from '../jobdir/layout.js';
import { parseSubmitProgramOutput, submitProgram, type SubmitItem } from '../jobdir/submit.js';
import { jobTag } from './tag.js';

/** Hooks for the data half (Staging): run inside stage-in and stage-out. */
export interface StagingHooks {
  /** After the job directory exists and before the script is written. */
  stageIn?(job: JobRecord, jobDir: string, rt: ClusterRuntime): Promise<void>;
  /** After the outcome is decided, before the terminal state. */
  stageOut?(job: JobRecord, jobDir: string, rt: ClusterRuntime): Promise<void>;
}

export interface ReconcilerOptions {
  now?: () => number;
  staging?: StagingHooks;
  /** Concurrent stage-in/stage-out steps per cluster. */
  stagingConcurrency?: number;
  /** How long stop() lets stage-outs in flight finish before the transport is closed under them. */
  stopGraceMs?: number;
}

const MAX_BACKOFF_MS = 60_000;
/** How long finishing waits for an accounting record before deciding without it. */
const ACCOUNTING_WAIT_MS = 10_000;
/** Jobs per evidence (and accounting) command; see finish(). */
const EVIDENCE_BATCH = 50;

export class Reconciler {
  readonly health: ClusterHealth;
  private readonly now: () => number;
  private readonly instance: string;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private kicked = false;
  private lastPollAt = 0;
  private tokens: number;
  private lastRefill: number;
  /** Native cancels already sent (job id -> when), so a slow scheduler is not asked every tick. */
  private readonly cancelSent = new Map<number, number>();
  /** Stage-outs in flight beside the loop (job id -> its promise); see startStageOuts. */
  private readonly stagingOut = new Map<number, Promise<void>>();
  /** Counters for /metrics and benchmarks. */
  readonly counters = { polls: 0, pollFailures: 0, submitCommands: 0, jobsSubmitted: 0, statusCommands: 0, accountingCommands: 0, evidenceCommands: 0 };
  /** Duration of every status poll that answered, in seconds (/metrics renders it). */
  readonly pollSeconds = new Histogram(COMMAND_SECONDS_BUCKETS);

  constructor(
    readonly rt: ClusterRuntime,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: ReconcilerOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.instance = store.instanceId();
    this.health = { cluster: rt.name, state: 'unknown', consecutiveFailures: 0, lastOkAt: null, lastError: null, lastPollMs: null };
    this.tokens = rt.submitRatePerSecond;
    this.lastRefill = this.now();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stop after the current tick; jobs on the cluster keep running and resume at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    // Give transfers in flight a moment to finish (a small output usually does); a large one is
    // cut off when the transport closes and resumes at the next start.
    if (this.stagingOut.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled(this.stagingOut.values()), new Promise((r) => (timer = setTimeout(r, this.opts.stopGraceMs ?? 5000)))]);
      clearTimeout(timer);
    }
  }

  /** Run a tick soon (a job was created or a cancel requested). */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tick();
      } catch (e) {
        // tick() handles its own errors; this is a bug guard so the loop never dies silently.
        this.log.error({ err: e }, 'reconciler tick crashed');
      }
      if (this.stopped) break;
      const delay = this.nextDelay();
      if (this.kicked) {
        this.kicked = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
      this.kicked = false;
    }
  }

  private nextDelay(): number {
    const base = Math.min(this.rt.pollIntervalMs, 1000);
    if (this.health.state !== 'degraded') return base;
    const k = Math.min(this.health.consecutiveFailures, 8);
    return Math.min(this.rt.pollIntervalMs * 2 ** (k - 1), MAX_BACKOFF_MS);
  }

  private markOk(): void {
    if (this.health.state === 'degraded') {
      this.log.info({ cluster: this.rt.name, after: this.health.consecutiveFailures }, 'cluster reachable again');
    }
    this.health.state = 'ok';
    this.health.consecutiveFailures = 0;
    this.health.lastOkAt = this.now();
    this.health.lastError = null;
  }

  private markFailure(step: string, e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    if (this.health.state !== 'degraded') {
      this.log.warn({ cluster: this.rt.name, step, err: msg }, 'cluster degraded: no job state changes until it answers again');
    }
    this.health.state = 'degraded';
    this.health.consecutiveFailures++;
    this.health.lastError = `${step}: ${msg}`;
  }

  private jobDir(job: JobRecord): string {
    return jobDirFor(this.rt.scratchRoot, this.instance, job.id);
  }

  private scriptContext(job: JobRecord): ScriptContext {
    const env = this.parentDirsEnv(job);
    return {
      ...(env ? { env } : {}),
      jobDir: this.jobDir(job),
      tag: jobTag(this.instance, job.id, job.attempt),
      bridgeJobId: job.id,
      attempt: job.attempt,
      defaults: this.rt.defaults,
      ...(job.kind === 'array' && job.arraySize ? { array: { size: job.arraySize, ...(job.arrayParallel ? { parallel: job.arrayParallel } : {}) } } : {}),
      ...(job.afterOk && job.afterOk.length > 0 ? { afterOk: job.afterOk } : {}),
      ...(job.spec.resources.walltime !== undefined ? { walltimeSeconds: job.spec.resources.walltime * 60 } : {}),
    };
  }

  private async exec(argv: readonly string[], timeoutMs = this.rt.commandTimeoutMs, stdin?: string): Promise<ExecResult> {
    return this.rt.transport.exec(argv, { timeoutMs, ...(stdin !== undefined ? { stdin } : {}) });
  }

  /** Apply a transition, treating "someone else moved it" as a no-op. */
  private move(job: JobRecord, from: readonly JobState[], to: JobState, patch: Parameters<Store['transition']>[3] = {}, reason?: string, detail?: unknown): JobRecord | undefined {
    try {
      return this.store.transition(job.id, from, to, { stepFailures: 0, retryAt: null, lastError: null, ...patch }, reason, detail);
    } catch (e) {
      if (e instanceof BridgeError && e.code === 'STALE_STATE') return undefined;
      throw e;
    }
  }

  /** A step failed for one job: transient -> retry with backoff; permanent -> fail after a few tries. */
  private stepFailed(job: JobRecord, step: string, e: unknown, maxPermanent = 3): void {
    const msg = e instanceof BridgeError ? e.message : e instanceof Error ? e.message : String(e);
    const failures = job.stepFailures + 1;
    if (!isTransient(e) && failures >= maxPermanent) {
      this.move(job, [job.state], 'failed', { statusReason: `${step} failed: ${msg}`, lastError: msg }, `${step} failed`, { error: msg });
      return;
    }
    const backoff = Math.min(1000 * 2 ** Math.min(failures, 6), MAX_BACKOFF_MS) * (0.75 + Math.random() * 0.5);
    this.store.update(job.id, [job.state], { stepFailures: failures, retryAt: this.now() + backoff, lastError: msg });
    if (isTransient(e)) this.markFailure(step, e);
  }

  async tick(): Promise<void> {
    const now = this.now();
    let jobs = this.store.activeOnCluster(this.rt.name);
    if (jobs.length === 0) return;

    // 1. Cancels before anything reached the scheduler need no remote command.
    for (const job of jobs) {
      if (job.cancelRequestedAt !== null && (job.state === 'accepted' || job.state === 'staging_in')) {
        this.move(job, ['accepted', 'staging_in'], 'deleted', { statusReason: 'cancelled by user' }, 'cancelled before submission');
      }
    }
    jobs = this.store.activeOnCluster(this.rt.name);

    // 1b. Workflow jobs wait for their parents (or fail when one failed) before stage-in.
    const wf = new WorkflowView(this.store);
    const ready = this.gateWorkflowJobs(jobs, wf);
    jobs = this.store.activeOnCluster(this.rt.name);

    // 2. One status command for every job of this cluster, at most once per poll interval,
    //    or sooner when a submission with an unknown outcome needs to look for its tag.
    const needsAdoption = jobs.some((j) => j.state === 'submitting' && j.stepFailures > 0 && (j.retryAt ?? 0) <= now);
    const inQueue = jobs.some((j) => j.state === 'queued' || j.state === 'running');
    const pollDue = now - this.lastPollAt >= this.rt.pollIntervalMs;
    if ((inQueue && pollDue) || needsAdoption) {
      const ok = await this.poll(jobs);
      if (!ok) return; // could not ask: change nothing, back off
      jobs = this.store.activeOnCluster(this.rt.name);
    }

    // 3. Stage-in, 4. submit.
    await this.stageIn(jobs.filter((j) => ((j.state === 'accepted' && (j.workflowId === null || ready.has(j.id))) || j.state === 'staging_in') && (j.retryAt ?? 0) <= now));
    jobs = this.store.activeOnCluster(this.rt.name);
    // Array instances are never submitted themselves: their carrier is the one submission.
    await this.submit(jobs.filter((j) => j.state === 'submitting' && j.arrayJobId === null && (j.retryAt ?? 0) <= now));
    this.linkArrayInstances();
    jobs = this.store.activeOnCluster(this.rt.name);

    // 5. Cancels on the scheduler (a carrier is cancelled through its elements).
    await this.cancelNative(jobs.filter((j) => j.kind === 'job' && j.cancelRequestedAt !== null && j.nativeId && (j.state === 'queued' || j.state === 'running')));

    // 6. Finishing: decide outcomes from evidence. 7. Stage-out.
    await this.finish(jobs.filter((j) => j.kind === 'job' && j.state === 'finishing' && (j.retryAt ?? 0) <= now));
    jobs = this.store.activeOnCluster(this.rt.name);
    this.startStageOuts(jobs.filter((j) => j.kind === 'job' && j.state === 'staging_out' && (j.retryAt ?? 0) <= now && !this.stagingOut.has(j.id)));
    this.closeCarriers();
  }

  // ---------------------------------------------------------------- poll

  private async poll(jobs: readonly JobRecord[]): Promise<boolean> {
    const started = this.now();
    const argv = this.rt.adapter.statusCommand(this.rt.user);
    let observations: Observation[];
    try {
      this.counters.statusCommands++;
      const r = await this.exec(argv);
      observations = this.rt.adapter.parseStatus(r);
    } catch (e) {
      this.counters.pollFailures++;
      this.markFailure('status poll', e);
      return false;
    }
    this.counters.polls++;
    this.lastPollAt = started;
    this.health.lastPollMs = this.now() - started;
    this.pollSeconds.observe(this.health.lastPollMs / 1000);
    this.markOk();

    const byId = new Map<string, Observation>();
    const byName = new Map<string, Observation>();
    // PBS: the server suffix qsub printed may differ from qstat's (ids.ts), so compare normalized ids.
    const idKey = (id: string) => this.rt.adapter.normalizeId?.(id) ?? id;
    for (const o of observations) {
      byId.set(idKey(o.nativeId), o);
      if (o.name) byName.set(o.name, o);
    }

    const unresolved: JobRecord[] = [];
    for (const job of jobs) {
      if (job.state === 'submitting' && job.stepFailures > 0) {
        // A submit whose outcome was unknown (e.g. sbatch timed out after the controller
        // accepted the job): if the tag is in the queue, adopt that id instead of submitting again.
        const tag = jobTag(this.instance, job.id, job.attempt);
        const o = byName.get(tag);
        // A carrier's elements all carry its tag; the array's own id is what it was given.
        if (o) this.adopt(job, job.kind === 'array' ? (o.arrayId ?? o.nativeId) : o.nativeId, `found in the queue by its tag ${tag}`);
        else unresolved.push(job);
        continue;
      }
      if ((job.state !== 'queued' && job.state !== 'running') || !job.nativeId) continue;
      // squeue lists a carrier's elements, never the carrier: its instances follow them.
      if (job.kind === 'array') continue;
      const o = byId.get(idKey(job.nativeId));
      if (!o) {
        // Gone from the queue. Only jobs submitted before this poll started can be judged:
        // a job submitted during the poll may simply not be in its output.
        if ((job.submittedAt ?? 0) < started) {
          this.move(job, [job.state], 'finishing', { absentSince: this.now(), nativeState: job.nativeState }, 'left the queue');
        }
        continue;
      }
      this.applyObservation(job, o);
    }
    if (unresolved.length > 0 && !(await this.adoptByTestimony(unresolved))) return false;
    return true;
  }

  /**
   * Not in the queue by its tag: it may have run and left already (a direct process, or a
   * scheduler that forgets finished jobs quickly). The runner writes the job's own id to
   * .hpcb/native_id when it starts; if that file exists, the job was accepted, so adopt it.
   * Returns false if the job directories could not be read (then nothing is resubmitted).
   */
  private async adoptByTestimony(jobs: JobRecord[]): Promise<boolean> {
    const items: EvidenceItem[] = jobs.map((j) => ({ key: String(j.id), jobDir: this.jobDir(j), taskCount: 0 }));
    try {
      const r = await this.exec(evidenceProgram(items));
      if (r.exitCode !== 0) throw new BridgeError('REMOTE_IO', 'reading job directories failed', { transient: true, context: { cluster: this.rt.name, exitCode: r.exitCode, stderr: r.stderr } });
      const ev = parseEvidenceOutput(r.stdout, items);
      for (const job of jobs) {
        const e = ev.get(String(job.id));
        if (!e?.complete) {
          // Output cut short: wait rather than risk a second submission.
          this.store.update(job.id, ['submitting'], { retryAt: this.now() + 1000 });
          continue;
        }
        if (e.nativeId) this.adopt(job, e.nativeId, 'the job recorded its own id when it started');
      }
      // A carrier has no .hpcb/native_id of its own: each element writes its own id (Slurm
      // `<array id>_<k>`, PBS `<seq>[<k>].server`) to .hpcb/<k>/native_id in the carrier's
      // directory. One element that started is proof
      // the array was accepted, whichever elements have already left the queue.
      const carriers = jobs.filter((j) => j.kind === 'array' && !ev.get(String(j.id))?.nativeId && ev.get(String(j.id))?.complete);
      if (carriers.length > 0) {
        const found = await this.readElementTestimony(carriers);
        for (const job of carriers) {
          const arrayId = found.get(job.id);
          if (arrayId === undefined) this.store.update(job.id, ['submitting'], { retryAt: this.now() + 1000 });
          else if (arrayId) this.adopt(job, arrayId, 'its elements recorded the array id when they started');
        }
      }
      return true;
    } catch (e) {
      this.markFailure('read job directories', e);
      return false;
    }
  }

  /**
   * For each carrier: the array id its elements recorded ('' when no element started, undefined
   * when the answer was cut short, so the caller waits rather than submits again). Throws when
   * the directories cannot be read.
   */
  private async readElementTestimony(carriers: JobRecord[]): Promise<Map<number, string | undefined>> {
    const r = await this.exec(elementsProgram(carriers.map((c) => ({ id: c.id, jobDir: this.jobDir(c) }))));
    if (r.exitCode !== 0) throw new BridgeError('REMOTE_IO', 'reading array element files failed', { transient: true, context: { cluster: this.rt.name, exitCode: r.exitCode, stderr: r.stderr } });
    const arrays = this.rt.adapter.arrays;
    return parseElementTestimony(r.stdout, carriers.map((c) => c.id), (id) => arrays?.parseElementId(id)?.arrayId);
  }

  private adopt(job: JobRecord, nativeId: string, why: string): void {
    this.move(job, ['submitting'], 'queued', { nativeId, submittedAt: job.submittedAt ?? this.now() }, `submitted (${why})`, { nativeId });
  }

  private applyObservation(job: JobRecord, o: Observation): void {
    const reason = o.reason && o.reason !== 'None' ? o.reason : null;
    switch (o.state) {
      case 'pending':
      case 'held': {
        const statusReason = o.state === 'held' ? `held${reason ? `: ${reason}` : ''}` : reason ? `waiting: ${reason}` : 'waiting in the queue';
        if (job.state === 'running') {
          this.move(job, ['running'], 'queued', { nativeState: o.nativeState, statusReason }, 'requeued by the scheduler');
          return;
        }
        if (job.nativeState !== o.nativeState || job.statusReason !== statusReason) {
          this.store.update(job.id, ['queued'], { nativeState: o.nativeState, statusReason });
        }
        this.checkTimeInQueue(job);
        if (o.reason === 'DependencyNeverSatisfied' && job.cancelRequestedAt === null) {
          // Slurm leaves such a job pending forever (22.05, kill_invalid_depend had no effect).
          this.store.update(job.id, ['queued'], { outcome: { status: 'failed', reason: 'dependency failed' } });
          this.store.requestCancel(job.id);
        }
        return;
      }
      case 'running':
      case 'suspended': {
        const statusReason = o.state === 'suspended' ? 'suspended by the scheduler' : null;
        if (job.state === 'queued') {
          this.move(job, ['queued'], 'running', { nativeState: o.nativeState, startedAt: this.now(), statusReason }, 'started');
        } else if (job.nativeState !== o.nativeState || job.statusReason !== statusReason) {
          this.store.update(job.id, ['running'], { nativeState: o.nativeState, statusReason });
        }
        return;
      }
      case 'done':
        if (o.final?.kind === 'dependency') {
          // Its dependency can never be satisfied: the outcome is "dependency failed" whatever
          // ends it. Still pending (no --kill-on-invalid-dep, or not yet acted on): cancel it
          // there first. Already CANCELLED by the scheduler: decide it now, or it would wait forever.
          if (job.cancelRequestedAt === null) {
            this.store.update(job.id, [job.state], { outcome: { status: 'failed', reason: 'dependency failed' }, statusReason: 'dependency failed' });
            this.store.requestCancel(job.id);
          }
          if (/^(PENDING|PD)$/.test(o.nativeState)) return;
        }
        this.move(job, [job.state], 'finishing', { nativeState: o.nativeState, nativeFinal: o.final ?? null, absentSince: this.now() }, `scheduler reports ${o.nativeState}`);
        return;
      case 'unknown':
      default:
        // Never guessed: keep the state, record the raw code, say so once.
        if (job.nativeState !== o.nativeState) {
          this.log.warn({ cluster: this.rt.name, jobId: job.id, nativeId: job.nativeId, nativeState: o.nativeState }, 'unknown scheduler state; keeping the job as it was');
          this.store.update(job.id, [job.state], { nativeState: o.nativeState });
        }
    }
  }

  private checkTimeInQueue(job: JobRecord): void {
    const limit = job.spec.policies.maximumTimeInQueue;
    if (!limit || job.cancelRequestedAt !== null || job.submittedAt === null) return;
    if (this.now() - job.submittedAt < limit * 60_000) return;
    const reason = `maximum time in queue of ${limit} minute${limit === 1 ? '' : 's'} exceeded`;
    this.store.update(job.id, ['queued'], { outcome: { status: 'failed', reason }, statusReason: reason });
    this.store.requestCancel(job.id);
    this.log.info({ cluster: this.rt.name, jobId: job.id, nativeId: job.nativeId }, reason);
  }

  // ---------------------------------------------------------------- workflows

  /**
   * How a workflow job reads what its parents produced: for each parent job on this cluster,
   * `HPCB_PARENT_<name>` lists the parent instances' job directories (index order, space
   * separated; non-identifier characters of the name become _). The bridge knows them before
   * anything runs, and a child only starts after its parents completed, so the files are final.
   */
  private parentDirsEnv(job: JobRecord): Record<string, string> | undefined {
    if (job.workflowId === null || job.wfJob === null) return undefined;
    const parents = new WorkflowView(this.store).parentsOf(job).filter((p) => p.cluster === this.rt.name);
    if (parents.length === 0) return undefined;
    const env: Record<string, string> = {};
    const byName = new Map<string, JobRecord[]>();
    for (const p of parents) byName.set(p.wfJob!, [...(byName.get(p.wfJob!) ?? []), p]);
    for (const [name, rows] of byName) {
      rows.sort((a, b) => (a.wfIndex ?? 0) - (b.wfIndex ?? 0));
      env[`HPCB_PARENT_${name.replace(/[^A-Za-z0-9_]/g, '_')}`] = rows.map((r) => this.jobDir(r)).join(' ');
    }
    return env;
  }

  /** Whether this cluster's scheduler holds a job until its afterok ids ended well (adapter capability). */
  private get nativeDeps(): boolean {
    return this.rt.adapter.nativeDependencies === true;
  }

  /**
   * Decide for each workflow job still `accepted` whether it may stage in: every parent done,
   * or (natively) every unfinished parent in this cluster's queue, whose ids become the job's
   * afterok. A parent that ended other than completed fails the job with "dependency failed"
   * before anything of it reaches the cluster. Array instances stage in right away (their
   * carrier holds the dependency); a carrier waits until all its instances are staged in.
   */
  private gateWorkflowJobs(jobs: readonly JobRecord[], wf: WorkflowView): Set<number> {
    const ready = new Set<number>();
    /** Instances of one factory job (workflow:name) past accepted and not ended, this tick. */
    const active = new Map<string, number>();
    for (const job of jobs) {
      if (job.state !== 'accepted' || job.workflowId === null || job.cancelRequestedAt !== null) continue;
      const parents = wf.parentsOf(job);
      if (parents.some((p) => isTerminal(p.state) && p.state !== 'completed')) {
        this.move(job, ['accepted'], 'failed', { statusReason: 'dependency failed' }, 'dependency failed');
        continue;
      }
      if (job.arrayJobId !== null) {
        ready.add(job.id);
        continue;
      }
      if (job.kind === 'array' && wf.rows(job.workflowId).some((i) => i.arrayJobId === job.id && (i.state === 'accepted' || i.state === 'staging_in'))) continue;
      const afterOk = new Set<string>();
      let wait = false;
      for (const p of parents.filter((x) => x.state !== 'completed')) {
        const carrier = p.arrayJobId !== null ? wf.byId(p.workflowId!, p.arrayJobId) : undefined;
        // Only ids still in the queue: a job that already left may be gone from the controller,
        // and an afterok on an unknown id is rejected; such a parent is waited for here instead.
        const inQueue = (p.state === 'queued' || p.state === 'running') && p.cluster === this.rt.name;
        const id = carrier ? carrier.nativeId : p.nativeId;
        if (!this.nativeDeps || !inQueue || !id) {
          wait = true;
          break;
        }
        afterOk.add(id);
      }
      if (wait) continue;
      // maximumParallel without a native array (direct, PBS, rerun instances): the engine lets at
      // most that many instances of one factory job past `accepted` until some of them end.
      const limit = wf.maximumParallel(job.workflowId);
      if (limit !== undefined && job.kind === 'job' && job.wfParams !== null) {
        const key = `${job.workflowId}:${job.wfJob}`;
        const n = active.get(key) ?? wf.rows(job.workflowId).filter((r) => r.kind === 'job' && r.wfCurrent && r.wfJob === job.wfJob && r.arrayJobId === null && r.state !== 'accepted' && !isTerminal(r.state)).length;
        active.set(key, n);
        if (n >= limit) continue;
        active.set(key, n + 1);
      }
      if (afterOk.size > 0) this.store.update(job.id, ['accepted'], { afterOk: [...afterOk] });
      ready.add(job.id);
    }
    return ready;
  }

  /**
   * Instances staged in wait in `submitting` for their carrier's one submission; once it has an
   * id, each becomes the adapter's element id in the queue (Slurm `<array id>_<index>`, PBS
   * `<seq>[<index>].server`), which is how the status poll names the element. A carrier that
   * ended without an id (rejected, cancelled first) ends them too.
   */
  private linkArrayInstances(): void {
    for (const inst of this.store.activeOnCluster(this.rt.name)) {
      if (inst.state !== 'submitting' || inst.arrayJobId === null) continue;
      const carrier = this.store.get(inst.arrayJobId);
      if (!carrier) continue;
      const arrays = this.rt.adapter.arrays;
      if (carrier.nativeId && arrays && inst.wfIndex !== null && carrier.state !== 'submitting' && carrier.state !== 'staging_in' && carrier.state !== 'accepted') {
        const nativeId = arrays.elementId(carrier.nativeId, inst.wfIndex);
        this.move(inst, ['submitting'], 'queued', { nativeId, submittedAt: carrier.submittedAt ?? this.now(), afterOk: carrier.afterOk }, `submitted as element ${inst.wfIndex} of array ${carrier.nativeId}`, { nativeId });
      } else if (isTerminal(carrier.state)) {
        const to = inst.cancelRequestedAt !== null ? 'deleted' : 'failed';
        this.move(inst, ['submitting'], to, { statusReason: to === 'deleted' ? 'cancelled by user' : (carrier.statusReason ?? 'array submission failed') }, 'array submission ended');
      }
    }
  }

  /**
   * A carrier has no outcome of its own: once every element it ran has ended, it is done. The
   * three moves keep the state machine's path; a daemon stopped between them resumes here.
   */
  private closeCarriers(): void {
    for (const c of this.store.activeOnCluster(this.rt.name)) {
      if (c.kind !== 'array' || !['queued', 'running', 'finishing', 'staging_out'].includes(c.state)) continue;
      const insts = this.store.workflowJobs(c.workflowId!).filter((j) => j.arrayJobId === c.id);
      if (insts.some((i) => !isTerminal(i.state))) continue;
      let cur: JobRecord | undefined = c;
      const why = `all ${insts.length} elements ended`;
      if (cur.state === 'queued' || cur.state === 'running') cur = this.move(cur, [cur.state], 'finishing', {}, why);
      if (cur?.state === 'finishing') cur = this.move(cur, ['finishing'], 'staging_out', { outcome: { status: 'completed', reason: why } }, why);
      if (cur?.state === 'staging_out') this.move(cur, ['staging_out'], 'completed', { statusReason: why }, why);
    }
  }

  // ---------------------------------------------------------------- stage-in

  private async stageIn(jobs: JobRecord[]): Promise<void> {
    if (jobs.length === 0) return;
    const made = await this.makeJobDirs(jobs);
    await forEachLimit(jobs, this.opts.stagingConcurrency ?? 8, async (job) => {
      let current = job;
      if (current.state === 'accepted') {
        const moved = this.move(current, ['accepted'], 'staging_in', {}, 'staging in');
        if (!moved) return;
        current = moved;
      }
      try {
        await this.stageInOne(current, made.has(job.id));
      } catch (e) {
        this.stepFailed(current, 'stage-in', e);
        return;
      }
      this.move(current, ['staging_in'], 'submitting', {}, 'staged in');
    });
  }

  /**
   * Every job directory (with its .hpcb/) of a stage-in round in one `mkdir -p` per chunk of
   * directories: over SFTP a mkdirp costs a stat and a mkdir round trip per missing level, per
   * job. Returns the jobs whose directories now exist; a failure here only means those jobs
   * create their own directory in stageInOne.
   */
  private async makeJobDirs(jobs: readonly JobRecord[]): Promise<Set<number>> {
    const made = new Set<number>();
    const CHUNK = 200; // ~200 paths of ~100 bytes: far below the per-argument and argv limits
    for (let i = 0; i < jobs.length; i += CHUNK) {
      const chunk = jobs.slice(i, i + CHUNK);
      try {
        const r = await this.exec(['mkdir', '-p', '--', ...chunk.map((j) => posix.join(this.jobDir(j), HPCB_DIR))]);
        if (r.exitCode === 0) for (const j of chunk) made.add(j.id);
      } catch {
        // Unknown outcome: each job makes its own directory (mkdir -p is idempotent).
      }
    }
    return made;
  }

  private async stageInOne(job: JobRecord, dirReady = false): Promise<void> {
    const t = this.rt.transport;
    const dir = this.jobDir(job);
    if (!dirReady) await t.mkdirp(posix.join(dir, HPCB_DIR));
    if (job.attempt > 0) {
      // A resubmission: the previous attempt's testimony must not be read as this one's.
      const r = await this.exec(clearAttemptProgram(dir));
      if (r.exitCode !== 0) throw new BridgeError('REMOTE_IO', `could not clear the previous attempt's files in ${dir}`, { transient: true, context: { cluster: this.rt.name, jobId: job.id, exitCode: r.exitCode, stderr: r.stderr } });
    }
    for (const input of job.spec.inputs) {
      const target = posix.join(dir, input.filename);
      const parent = posix.dirname(target);
      if (parent !== dir) await t.mkdirp(parent);
      await t.writeFile(target, Buffer.from(input.content, 'base64'), { mode: input.executable ? 0o755 : 0o644 });
    }
    if (job.kind === 'array') {
      // Line k+1 is the job directory of element k; an instance cancelled before the array was
      // submitted gets an empty line, so its element exits at once without running anything.
      const insts = this.store.workflowJobs(job.workflowId!).filter((j) => j.arrayJobId === job.id);
      const lines = Array.from({ length: job.arraySize ?? 0 }, () => '');
      for (const i of insts) if (i.wfIndex !== null && !isTerminal(i.state)) lines[i.wfIndex] = this.jobDir(i);
      await t.writeFile(posix.join(dir, HPCB_DIR, FILES.instances), lines.join('\n') + '\n', { mode: 0o644 });
    } else {
      await this.opts.staging?.stageIn?.(job, dir, this.rt);
    }
    const script = this.rt.adapter.renderScript(job.spec, this.scriptContext(job));
    await t.writeFile(posix.join(dir, HPCB_DIR, FILES.jobScript), script, { mode: 0o755 });
  }

  // ---------------------------------------------------------------- submit

  private takeTokens(want: number): number {
    const now = this.now();
    const rate = this.rt.submitRatePerSecond;
    this.tokens = Math.min(rate, this.tokens + ((now - this.lastRefill) / 1000) * rate);
    this.lastRefill = now;
    const n = Math.min(want, Math.floor(this.tokens));
    this.tokens -= n;
    return n;
  }

  private async submit(jobs: JobRecord[]): Promise<void> {
    const pending = jobs.filter((j) => !(j.cancelRequestedAt !== null && j.nativeId));
    let offset = 0;
    while (offset < pending.length && !this.stopped) {
      const n = this.takeTokens(Math.min(this.rt.submitBatchSize, pending.length - offset));
      if (n === 0) {
        this.kicked = true; // come back when tokens refill
        return;
      }
      const batch = pending.slice(offset, offset + n);
      offset += n;
      const items: SubmitItem[] = batch.map((job) => {
        const ctx = this.scriptContext(job);
        return {
          key: String(job.id),
          jobDir: ctx.jobDir,
          attempt: job.attempt,
          tryNo: job.stepFailures,
          argv: this.rt.adapter.submitCommand(posix.join(ctx.jobDir, HPCB_DIR, FILES.jobScript), ctx),
        };
      });
      let result: ExecResult;
      try {
        this.counters.submitCommands++;
        result = await this.exec(submitProgram(items), this.rt.submitTimeoutMs);
      } catch (e) {
        // Unknown outcome: the records on the cluster will tell on the next try (same try
        // number, so nothing is submitted twice).
        this.markFailure('submit', e);
        return;
      }
      const records = parseSubmitProgramOutput(result.stdout);
      for (const job of batch) {
        const rec = records.get(String(job.id));
        if (!rec) {
          // Output cut short: the record on the cluster is authoritative; ask again next tick.
          this.store.update(job.id, ['submitting'], { retryAt: this.now() + 1000, lastError: 'submit output incomplete' });
          continue;
        }
        if (rec.kind === 'nodir') {
          // Not entering the directory may pass (a shared filesystem hiccup); a few tries, then fail.
          this.stepFailed(job, 'submit', new BridgeError('REMOTE_IO', `cannot enter the job directory ${this.jobDir(job)} on the cluster`, { context: { cluster: this.rt.name, jobId: job.id } }));
          continue;
        }
        if (rec.kind === 'locked') {
          this.store.update(job.id, ['submitting'], { retryAt: this.now() + 5000, lastError: 'another submission of this job is still running' });
          continue;
        }
        if (rec.kind === 'unknown') {
          // The record was created but never filled (the remote shell died after the submit
          // command, or the disk was full): the job may be in the queue. A new try number makes
          // the next tick look for its tag (and its own testimony) before submitting again.
          this.store.update(job.id, ['submitting'], { stepFailures: job.stepFailures + 1, retryAt: this.now() + 1000, lastError: 'the submit record on the cluster is incomplete; looking for the job by its tag' });
          continue;
        }
        try {
          const nativeId = this.rt.adapter.parseSubmit({ exitCode: rec.exitCode, signal: null, stdout: rec.stdout, stderr: rec.stderr, durationMs: 0 });
          this.counters.jobsSubmitted++;
          this.move(job, ['submitting'], 'queued', { nativeId, submittedAt: this.now(), statusReason: null }, 'submitted', { nativeId });
        } catch (e) {
          const err = e instanceof BridgeError ? e : new BridgeError('SCHEDULER_ERROR', String(e), { transient: true });
          err.context.cluster = this.rt.name;
          err.context.jobId = job.id;
          if (err.transient) {
            // Next try gets a new record; the poll before it looks for the tag first.
            this.stepFailed(job, 'submit', err);
          } else {
            this.move(job, ['submitting'], 'failed', { statusReason: `rejected by the scheduler: ${err.message}`, lastError: err.describe() }, 'submit rejected', err.toJSON());
          }
        }
      }
      this.markOk();
    }
  }

  // ---------------------------------------------------------------- cancel

  private async cancelNative(jobs: JobRecord[]): Promise<void> {
    const now = this.now();
    const todo = jobs.filter((j) => now - (this.cancelSent.get(j.id) ?? 0) > 30_000);
    if (todo.length === 0) return;
    const ids = todo.map((j) => j.nativeId!);
    try {
      const r = await this.exec(this.rt.adapter.cancelCommand(ids));
      this.rt.adapter.parseCancel(r);
      for (const j of todo) this.cancelSent.set(j.id, now);
      this.lastPollAt = 0; // look again soon
    } catch (e) {
      if (isTransient(e)) this.markFailure('cancel', e);
      else this.log.warn({ cluster: this.rt.name, err: e instanceof Error ? e.message : String(e), ids }, 'cancel command failed');
    }
  }

  // ---------------------------------------------------------------- finishing

  /**
   * Decide the jobs that left the queue, EVIDENCE_BATCH at a time: the evidence program costs a
   * few forks per job on the login node (10-25 ms each on a busy one), so hundreds of jobs that
   * end together (a sweep) in one command ran past the command timeout, failed, and were tried
   * again whole on the next tick, forever. Chunks make progress; the first failed chunk stops
   * the round (the cluster is then degraded and the rest waits for the next tick).
   */
  private async finish(jobs: readonly JobRecord[]): Promise<void> {
    for (let i = 0; i < jobs.length; i += EVIDENCE_BATCH) {
      if (!(await this.finishChunk(jobs.slice(i, i + EVIDENCE_BATCH)))) return;
    }
  }

  private async finishChunk(jobs: JobRecord[]): Promise<boolean> {
    if (jobs.length === 0) return true;
    const items: EvidenceItem[] = jobs.map((j) => ({ key: String(j.id), jobDir: this.jobDir(j), taskCount: j.spec.tasks.length }));
    let evidence;
    try {
      this.counters.evidenceCommands++;
      const r = await this.exec(evidenceProgram(items));
      if (r.exitCode !== 0) throw new BridgeError('REMOTE_IO', 'reading exit-code files failed', { transient: true, context: { cluster: this.rt.name, exitCode: r.exitCode, stderr: r.stderr } });
      evidence = parseEvidenceOutput(r.stdout, items);
    } catch (e) {
      this.markFailure('read exit files', e);
      return false;
    }

    let accounting = new Map<string, FinalInfo>();
    const adapter = this.rt.adapter;
    if (adapter.accountingCommand && adapter.parseAccounting) {
      const ids = jobs.map((j) => j.nativeId).filter((x): x is string => !!x);
      if (ids.length > 0) {
        try {
          this.counters.accountingCommands++;
          accounting = adapter.parseAccounting(await this.exec(adapter.accountingCommand(ids, this.rt.user)));
        } catch (e) {
          // Accounting is optional evidence; without it the exit files still decide.
          this.log.debug({ cluster: this.rt.name, err: e instanceof Error ? e.message : String(e) }, 'accounting query failed');
        }
      }
    }

    const now = this.now();
    const wfView = new WorkflowView(this.store);
    for (const job of jobs) {
      const ev = evidence.get(String(job.id));
      if (!ev || !ev.complete) continue;
      const acct = job.nativeId ? accounting.get(job.nativeId) : undefined;
      const sinceGone = now - (job.absentSince ?? job.updatedAt);
      if (!acct && adapter.accountingCommand && job.nativeId && sinceGone < ACCOUNTING_WAIT_MS) {
        // Accounting lags the queue by up to a second or so (sacct via slurmdbd); give it a
        // moment so the job's record carries elapsed time, max RSS and nodes.
        continue;
      }
      const final = walltimeFromRunnerClock(job.spec, ev, mergeFinal(job.nativeFinal, acct));
      // A workflow job that never started while a parent failed was stopped by its dependency
      // (Slurm's --kill-on-invalid-dep reports it as cancelled): say so, whatever else it shows.
      const depFailed = job.workflowId !== null && !ev.started && wfView.parentFailed(job);
      const decision = decideOutcome({
        spec: job.spec,
        cancelRequested: job.cancelRequestedAt !== null,
        presetOutcome: depFailed ? { status: 'failed', reason: 'dependency failed' } : job.outcome,
        evidence: ev,
        final,
        sinceGoneMs: sinceGone,
        graceMs: this.rt.lostGraceMs,
      });
      if (decision.kind === 'wait') continue;
      const { outcome } = decision;
      const acctInfo = acct
        ? { elapsedSeconds: acct.elapsedSeconds, maxRssBytes: acct.maxRssBytes, nodeList: acct.nodeList, exitCode: acct.exitCode ?? null, nativeState: acct.nativeState }
        : null;
      if (outcome.retryable && job.attempt < job.spec.policies.maximumRetries && job.cancelRequestedAt === null) {
        this.move(
          job,
          ['finishing'],
          'staging_in',
          { attempt: job.attempt + 1, arrayJobId: null, afterOk: null, nativeId: null, nativeState: null, nativeFinal: null, outcome: null, absentSince: null, submittedAt: null, startedAt: null, statusReason: `retrying after: ${outcome.reason}` },
          `resubmitting (attempt ${job.attempt + 2} of ${job.spec.policies.maximumRetries + 1}) after: ${outcome.reason}`,
        );
        continue;
      }
      this.move(
        job,
        ['finishing'],
        'staging_out',
        { outcome, statusReason: outcome.reason, exitCode: outcome.exitCode ?? null, taskExitCodes: decision.taskExitCodes, accounting: acctInfo, nativeFinal: final },
        `outcome: ${outcome.status} (${outcome.reason})`,
      );
    }
    return true;
  }

  // ---------------------------------------------------------------- stage-out

  /**
   * Stage-outs run beside the loop, not inside the tick: bringing back a job's outputs can take
   * minutes (tens of GB), and while a tick waits on it the cluster's other jobs are neither polled
   * nor submitted. At most `stagingConcurrency` run at once; each one that ends kicks the loop so
   * the next waiting job starts and the job's terminal state is seen at once.
   */
  private startStageOuts(jobs: JobRecord[]): void {
    const room = (this.opts.stagingConcurrency ?? 8) - this.stagingOut.size;
    for (const job of jobs.slice(0, Math.max(0, room))) {
      const run = this.stageOutOne(job)
        .catch((e) => {
          // Stopping closes the transport under a running transfer; the job stays in
          // staging_out and the next start resumes it (stage-out is resumable).
          if (!this.stopped) this.log.error({ err: e, cluster: this.rt.name, jobId: job.id }, 'stage-out crashed');
        })
        .finally(() => {
          this.stagingOut.delete(job.id);
          if (!this.stopped) this.kick();
        });
      this.stagingOut.set(job.id, run);
    }
  }

  private async stageOutOne(job: JobRecord): Promise<void> {
    const outcome = job.outcome ?? { status: 'failed' as const, reason: 'outcome missing' };
    try {
      await this.opts.staging?.stageOut?.(job, this.jobDir(job), this.rt);
    } catch (e) {
      if (this.stopped) return;
      if (isTransient(e)) {
        this.stepFailed(job, 'stage-out', e);
        return;
      }
      const msg = e instanceof Error ? e.message : String(e);
      this.move(job, ['staging_out'], outcome.status === 'completed' ? 'failed' : outcome.status, { statusReason: `${outcome.reason}; stage-out failed: ${msg}` }, 'stage-out failed');
      return;
    }
    if (this.stopped) return; // the database may be closing; the next start records the end
    this.move(job, ['staging_out'], outcome.status, { statusReason: outcome.reason }, outcome.reason);
  }
}

/**
 * PBS (added for the Torque wrappers): tell a walltime kill from the runner's own clock when the
 * scheduler does not say how the job ended. The slurm-wlm-torque qstat prints `C` with no
 * exit_status for every finished job, and Torque keeps no accounting, so `final` is at best
 * 'unknown'. A job the scheduler killed for its walltime then leaves `.hpcb/terminated`
 * ("TERM <epoch> <task>") and no `.hpcb/exit`. If the runner ran at least its walltime between
 * `.hpcb/started` and that SIGTERM (both stamps from the same cluster clock, whole seconds, so
 * 2 s of slack for the two truncations and the script's start-up), the limit is what ended it:
 * the same inference parse.ts makes from resources_used.walltime for PBS's 256+N exit statuses.
 * Anything else (a SIGTERM earlier, no stamps, an exit file, a scheduler that did say) is left as it was.
 */
const RUNNER_CLOCK_SLACK_SECONDS = 2;
export function walltimeFromRunnerClock(spec: JobRecord['spec'], ev: { exitCode: number | null; startedEpoch?: number | null; terminatedBy: string | null }, final: FinalInfo | null): FinalInfo | null {
  if (final && final.kind !== 'unknown') return final;
  const walltime = spec.resources.walltime;
  if (walltime === undefined || ev.exitCode !== null || ev.startedEpoch == null || !ev.terminatedBy) return final;
  const m = /^TERM (\d+)\b/.exec(ev.terminatedBy);
  if (!m) return final;
  const ran = Number(m[1]) - ev.startedEpoch;
  if (ran < walltime * 60 - RUNNER_CLOCK_SLACK_SECONDS) return final;
  return {
    ...(final ?? {}),
    nativeState: final?.nativeState ?? '',
    kind: 'timeout',
    reason: `SIGTERM after ${ran} s of a ${walltime * 60} s walltime (runner's .hpcb/started and .hpcb/terminated); the scheduler did not say how the job ended`,
  };
}

/** Accounting knows more than squeue (exit code, signal, MaxRSS); prefer it where it has an answer. */
function mergeFinal(fromPoll: FinalInfo | null, fromAcct: FinalInfo | undefined): FinalInfo | null {
  if (!fromAcct) return fromPoll;
  if (!fromPoll) return fromAcct;
  if (fromAcct.kind === 'unknown') return { ...fromAcct, ...fromPoll };
  return { ...fromPoll, ...fromAcct };
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/**
 * A workflow's rows and dependency map, read once per use (a tick, a decision) so a sweep of
 * many instances costs one query per workflow rather than one per instance.
 */
export class WorkflowView {
  private readonly cache = new Map<number, { rows: JobRecord[]; parents: Record<string, string[]>; maximumParallel: number | undefined }>();
  constructor(private readonly store: Store) {}

  private load(workflowId: number): { rows: JobRecord[]; parents: Record<string, string[]>; maximumParallel: number | undefined } {
    let v = this.cache.get(workflowId);
    if (!v) {
      const spec = this.store.getWorkflow(workflowId)?.spec as { dependencies?: Record<string, string[]>; policies?: { maximumParallel?: number } } | undefined;
      const parents: Record<string, string[]> = {};
      for (const [p, kids] of Object.entries(spec?.dependencies ?? {})) for (const k of kids) (parents[k] ??= []).push(p);
      v = { rows: this.store.workflowJobs(workflowId), parents, maximumParallel: spec?.policies?.maximumParallel };
      this.cache.set(workflowId, v);
    }
    return v;
  }

  rows(workflowId: number): JobRecord[] {
    return this.load(workflowId).rows;
  }

  /** The workflow's policies.maximumParallel, if set. */
  maximumParallel(workflowId: number): number | undefined {
    return this.load(workflowId).maximumParallel;
  }

  byId(workflowId: number, id: number): JobRecord | undefined {
    return this.load(workflowId).rows.find((r) => r.id === id);
  }

  /** The current instances of every parent job of `job` (by exact name). */
  parentsOf(job: JobRecord): JobRecord[] {
    if (job.workflowId === null || job.wfJob === null) return [];
    const v = this.load(job.workflowId);
    const names = v.parents[job.wfJob] ?? [];
    return v.rows.filter((r) => r.kind === 'job' && r.wfCurrent && r.wfJob !== null && names.includes(r.wfJob));
  }

  parentFailed(job: JobRecord): boolean {
    return this.parentsOf(job).some((p) => isTerminal(p.state) && p.state !== 'completed');
  }
}
