/**
 * The library-level entry point: a Bridge owns the store, one transport and one reconciler
 * per cluster, and offers submit / get / list / cancel / wait. The HTTP API and the CLI are
 * thin layers over it; tests and scripts on the login node can use it directly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from './domain/errors.js';
import { parseJobSpec, type JobSpec } from './domain/jobSpec.js';
import { parseWorkflow } from './domain/workflowSpec.js';
import { currentJobs, workflowView, type WorkflowView } from './engine/workflowStatus.js';
import { isTerminal } from './domain/state.js';
import type { NativeArrays, SchedulerAdapter } from './domain/adapter.js';
import type { ClusterHealth, ClusterRuntime } from './engine/cluster.js';
import { carrierElementCommand } from './jobdir/layout.js';
import { Reconciler, type StagingHooks } from './engine/loop.js';
import { createLogger, type Logger } from './logging.js';
import type { ClusterConfig, Settings } from './settings/schema.js';
import { Store, type JobFilter, type JobRecord, type NewWorkflowRow, type TransitionEvent } from './store/store.js';
import type { Transport } from './transport/transport.js';
import { adapterFor } from './adapters.js';
import { createTransport, hostAccounts, lookupAccount } from './transport/index.js';
import { ensureAccountScratch } from './jobdir/localScratch.js';
import { localAccountFor } from './settings/localAccount.js';
import { TransportPool } from './transport/pool.js';
import { clusterAccount, identityFor, identityForAccount, sharedIdentity, type ClusterIdentity } from './settings/identity.js';
import { Staging, type StagingOptions } from './staging/staging.js';
import { checkNotifications } from './notify/check.js';
import { NotificationWorker } from './notify/worker.js';
import { JobTokens } from './auth/jobTokens.js';
import { jobMayUseKv, KvJobAccess, withKvHooks } from './kv/jobs.js';
import { KeyValueService } from './kv/service.js';
import { checkExecRequest, jobRelativePath } from './domain/inJob.js';
import { execInJob, snapshot, type InJobContext } from './inJob.js';
import type { ExecView } from './client/types.js';

export interface BridgeOptions {
  logger?: Logger;
  /**
   * Override how transports are built (tests inject faults): one per (cluster, Unix account),
   * `account` being the cluster's own account, a user's identity or the monitor's.
   */
  transportFor?: (cluster: ClusterConfig, account: string) => Transport;
  adapterFor?: (cluster: ClusterConfig) => SchedulerAdapter;
  /** Replace the staging hooks the reconcilers call (bridge.staging still serves the API). */
  staging?: StagingHooks;
  /** Test hooks for the data half (e.g. stop a stage-out half-way). */
  stagingOptions?: Pick<StagingOptions, 'onOutputStored'>;
  /** Database path; defaults to <dataDir>/hpc-bridge.db. */
  dbPath?: string;
  now?: () => number;
}

export class Bridge {
  readonly store: Store;
  readonly log: Logger;
  /** The data half: artifacts, stage-in/out, outputs and logs (the API serves it as is). */
  readonly staging: Staging;
  /** Sends the outbox's webhooks and e-mails, beside the engine (never inside a tick). */
  readonly notifier: NotificationWorker;
  /** The per-user key-value store (src/kv/), and the credentials running jobs reach it with. */
  readonly kv: KeyValueService;
  readonly jobTokens: JobTokens;
  private readonly reconcilers = new Map<string, Reconciler>();
  /** Every cluster's transports, one per identity (idle ones are closed by the pool). */
  readonly pools: TransportPool[] = [];
  private closed = false;
  private readonly waiters = new Map<number, Set<(j: JobRecord) => void>>();
  private readonly wfWaiters = new Map<number, Set<(force?: boolean) => void>>();

  private constructor(readonly settings: Settings, store: Store, log: Logger, opts: BridgeOptions) {
    this.store = store;
    this.log = log;
    this.staging = new Staging({
      dataDir: settings.daemon.dataDir,
      limits: settings.daemon.limits,
      store,
      runtime: (cluster) => this.reconcilers.get(cluster)?.rt,
      log: log.child({ component: 'staging' }),
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.stagingOptions ?? {}),
    });
    this.notifier = new NotificationWorker({ store, config: settings.daemon.notifications, log: log.child({ component: 'notify' }), ...(opts.now ? { now: opts.now } : {}) });
    const now = opts.now ?? Date.now;
    this.kv = new KeyValueService(store.kv, settings.daemon.kv, now);
    this.jobTokens = new JobTokens(store.kv, (jobId, at) => jobMayUseKv(store.get(jobId), at), now);
  }

  static open(settings: Settings, opts: BridgeOptions = {}): Bridge {
    const log = opts.logger ?? createLogger({ level: settings.daemon.logLevel });
    const store = Store.open(opts.dbPath ?? join(settings.daemon.dataDir, 'hpc-bridge.db'), opts.now ? { now: opts.now } : {});
    const bridge = new Bridge(settings, store, log, opts);
    store.on('transition', (e) => {
      bridge.logTransition(e);
      bridge.onTransition(e);
      if (isTerminal(e.to)) bridge.notifier.kick();
    });
    const kvHooks = new KvJobAccess(bridge.jobTokens, bridge.kv, settings.daemon.kv, log.child({ component: 'kv' }), opts.now);
    const hooks = withKvHooks(opts.staging ?? bridge.staging, kvHooks);
    for (const c of settings.clusters) {
      const adapter = opts.adapterFor ? opts.adapterFor(c) : adapterFor(c);
      const rt = clusterRuntime(c, settings, adapter, opts.transportFor);
      bridge.pools.push(rt.pool);
      const recOpts = { ...(opts.now ? { now: opts.now } : {}), staging: hooks };
      bridge.reconcilers.set(c.name, new Reconciler(rt, store, log.child({ cluster: c.name }), recOpts));
    }
    return bridge;
  }

  /** Start every cluster's reconciler; non-terminal jobs resume from their persisted state. */
  start(): void {
    for (const r of this.reconcilers.values()) r.start();
    this.notifier.start();
  }

  /** Validate and persist a job; it reaches the cluster on the next reconciler tick. */
  submit(owner: string, definition: unknown, opts: { idempotencyKey?: string } = {}): { job: JobRecord; created: boolean } {
    const spec = parseJobSpec(definition);
    checkNotifications(spec.notifications, this.settings.daemon.notifications, 'job');
    const cluster = spec.cluster ?? this.settings.daemon.defaultCluster!;
    const rec = this.reconcilers.get(cluster);
    if (!rec) {
      throw new BridgeError('INVALID_DEFINITION', `invalid job definition: cluster: no cluster named "${cluster}" is configured`, {
        context: { field: 'cluster', problems: [{ field: 'cluster', message: `no cluster named "${cluster}" is configured` }] },
      });
    }
    const withAccount = this.applyUserPolicy(owner, cluster, spec, 'cluster', 'job');
    const clusterUser = this.identityOf(owner, cluster, 'cluster', 'job');
    // Inline input sizes and artifact names are checked here, so a job that could never stage
    // in is refused with the field named instead of failing later on the cluster.
    this.staging.checkSubmission(owner, withAccount);
    const res = this.store.createJob({ owner, cluster, clusterUser, spec: withAccount, ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}) });
    rec.wake();
    return res;
  }

  get(id: number, owner?: string): JobRecord | undefined {
    return owner === undefined ? this.store.get(id) : this.store.getOwned(id, owner);
  }

  list(filter: JobFilter): JobRecord[] {
    return this.store.list(filter);
  }

  /** Cancel; idempotent, and not an error for a job that already ended. */
  cancel(id: number, owner?: string): JobRecord {
    const job = this.get(id, owner);
    if (!job) throw new BridgeError('NOT_FOUND', `job ${id} not found`, { context: { jobId: id } });
    if (isTerminal(job.state)) return job;
    const updated = this.store.requestCancel(id)!;
    this.reconcilers.get(job.cluster)?.wake();
    return updated;
  }

  /**
   * The bytes of one file of a running job's directory (`path` relative to it), read as the job's
   * own account. Another user's job is NOT_FOUND, as everywhere.
   */
  snapshot(id: number, owner: string, path: string): Promise<Buffer> {
    const job = this.ownedJob(id, owner);
    return snapshot(job, jobRelativePath(path), this.inJobContext(job));
  }

  /** Run a short command inside a running job's allocation, as the job's account, time-limited. */
  exec(id: number, owner: string, req: { argv: readonly string[]; timeoutSeconds?: number | undefined }): Promise<ExecView> {
    const job = this.ownedJob(id, owner);
    const checked = checkExecRequest(req, this.settings.daemon.limits.execSeconds);
    // The program's name only: its arguments may hold anything.
    this.log.info({ jobId: id, user: owner, program: checked.argv[0], timeoutSeconds: checked.timeoutSeconds }, `exec in job ${id}`);
    return execInJob(job, checked, this.inJobContext(job));
  }

  private ownedJob(id: number, owner: string): JobRecord {
    const job = this.get(id, owner);
    if (!job) throw new BridgeError('NOT_FOUND', `job ${id} not found`, { context: { jobId: id } });
    return job;
  }

  private inJobContext(job: JobRecord): InJobContext {
    return { runtime: this.reconcilers.get(job.cluster)?.rt, instance: this.store.instanceId(), limits: this.settings.daemon.limits };
  }

  /** Resolve when the job is terminal, or with its current record after `timeoutMs`. */
  wait(id: number, timeoutMs: number, owner?: string): Promise<JobRecord> {
    const job = this.get(id, owner);
    if (!job) return Promise.reject(new BridgeError('NOT_FOUND', `job ${id} not found`, { context: { jobId: id } }));
    if (isTerminal(job.state)) return Promise.resolve(job);
    return new Promise((resolve) => {
      // One store listener serves every waiter (see onTransition), so thousands of clients
      // waiting cost a map entry each, not an event listener each.
      const finish = (j: JobRecord) => {
        clearTimeout(timer);
        const set = this.waiters.get(id);
        set?.delete(finish);
        if (set && set.size === 0) this.waiters.delete(id);
        resolve(j);
      };
      const timer = setTimeout(() => finish(this.store.get(id)!), timeoutMs);
      const set = this.waiters.get(id) ?? new Set();
      set.add(finish);
      this.waiters.set(id, set);
    });
  }

  private onTransition(e: TransitionEvent): void {
    if (!isTerminal(e.to)) return;
    for (const finish of [...(this.waiters.get(e.job.id) ?? [])]) finish(e.job);
    if (e.job.workflowId !== null) for (const check of [...(this.wfWaiters.get(e.job.workflowId) ?? [])]) check();
  }

  // ------------------------------------------------------------------ workflows

  /**
   * Validate a workflow, expand its factories and persist it with all its rows in one
   * transaction. On a cluster whose adapter runs arrays natively (`SchedulerAdapter.arrays`:
   * Slurm, PBS Pro), a factory job's instances get one carrier row: one submission for all of
   * them. Elsewhere (direct, Torque by default) each instance is its own submission.
   *
   * With an idempotency key this owner already used, nothing is created: the earlier workflow
   * is returned (`created` false), or CONFLICT when the definition differs.
   */
  submitWorkflow(owner: string, definition: unknown, opts: { idempotencyKey?: string } = {}): WorkflowView & { created?: boolean } {
    const plan = parseWorkflow(definition);
    checkNotifications(plan.spec.notifications, this.settings.daemon.notifications, 'workflow');
    const rows: NewWorkflowRow[] = [];
    for (const name of plan.order) {
      const insts = plan.instances.get(name)!;
      const cluster = insts[0]!.spec.cluster ?? this.settings.daemon.defaultCluster!;
      const rec = this.reconcilers.get(cluster);
      if (!rec) {
        const field = `jobs[${plan.spec.jobs.findIndex((j) => j.name === name)}].cluster`;
        throw new BridgeError('INVALID_DEFINITION', `invalid workflow definition: ${field}: no cluster named "${cluster}" is configured`, {
          context: { field, problems: [{ field, message: `no cluster named "${cluster}" is configured` }] },
        });
      }
      const jobField = `jobs[${plan.spec.jobs.findIndex((j) => j.name === name)}]`;
      const clusterUser = this.identityOf(owner, cluster, `${jobField}.cluster`, 'workflow');
      for (const i of insts) {
        i.spec = this.applyUserPolicy(owner, cluster, i.spec, `${jobField}.cluster`, 'workflow');
        this.staging.checkSubmission(owner, i.spec);
      }
      // One array submission where the adapter can follow array elements (Slurm, PBS Pro), or
      // several when the factory is larger than the scheduler's largest array.
      const chunks = arrayChunks(rec.rt.adapter.arrays, insts.length, insts[0]!.factory, plan.spec.policies.maximumParallel);
      for (const [c, chunk] of chunks.entries()) {
        rows.push({ ref: `array:${name}:${c}`, kind: 'array', cluster, clusterUser, spec: carrierSpec(insts[0]!.spec), wfJob: name, wfIndex: chunk.first, wfParams: null, arraySize: chunk.size, ...(chunk.parallel ? { arrayParallel: chunk.parallel } : {}) });
      }
      for (const [k, i] of insts.entries()) {
        const carrier = chunks.findIndex((c) => k >= c.first && k < c.first + c.size);
        rows.push({ ref: `${name}#${i.index}`, kind: 'job', cluster, clusterUser, spec: i.spec, wfJob: name, wfIndex: i.index, wfParams: i.factory ? i.params : null, ...(carrier >= 0 ? { carrierRef: `array:${name}:${carrier}` } : {}) });
      }
    }
    const { workflow: wf, created } = this.store.createWorkflow({ owner, name: plan.spec.name, spec: plan.spec, labels: plan.spec.labels, rows, ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}) });
    if (!created && JSON.stringify(wf.spec) !== JSON.stringify(plan.spec)) {
      throw new BridgeError('CONFLICT', `Idempotency-Key "${opts.idempotencyKey}" was already used for workflow ${wf.id} with a different definition`, { context: { field: 'Idempotency-Key' } });
    }
    for (const r of this.reconcilers.values()) r.wake();
    const view = this.getWorkflow(wf.id)!;
    return opts.idempotencyKey ? Object.defineProperty(view, 'created', { value: created, enumerable: false }) : view;
  }

  getWorkflow(id: number, owner?: string): WorkflowView | undefined {
    const wf = this.store.getWorkflow(id);
    if (!wf || (owner !== undefined && wf.owner !== owner)) return undefined;
    return workflowView(wf, this.store.workflowJobs(id));
  }

  listWorkflows(owner: string, limit?: number): WorkflowView[] {
    return this.store.listWorkflows(owner, limit).map((wf) => workflowView(wf, this.store.workflowJobs(wf.id)));
  }

  private ownedWorkflow(id: number, owner?: string): WorkflowView {
    const v = this.getWorkflow(id, owner);
    if (!v) throw new BridgeError('NOT_FOUND', `workflow ${id} not found`, { context: { workflowId: id } });
    return v;
  }

  /** Cancel every job of the workflow (carriers included); idempotent. */
  deleteWorkflow(id: number, owner?: string): WorkflowView {
    this.ownedWorkflow(id, owner);
    this.store.markWorkflowDeleted(id);
    for (const j of this.store.workflowJobs(id)) {
      if (!isTerminal(j.state)) {
        this.store.requestCancel(j.id);
        this.reconcilers.get(j.cluster)?.wake();
      }
    }
    return this.getWorkflow(id)!;
  }

  /**
   * Run again only what did not complete, and everything downstream of it (descendants consumed
   * or never got the failed job's results). The replaced rows stay as history. Rerun instances
   * are separate submissions (not a new array): exactly-once holds per row either way.
   */
  rerunWorkflow(id: number, owner?: string): WorkflowView {
    this.ownedWorkflow(id, owner);
    const wf = this.store.getWorkflow(id)!;
    const rows = currentJobs(this.store.workflowJobs(id));
    if (rows.some((r) => !isTerminal(r.state))) {
      throw new BridgeError('CONFLICT', `workflow ${id} still has jobs running; wait for it to end or delete it before a rerun`, { context: { workflowId: id } });
    }
    const deps = (wf.spec as { dependencies?: Record<string, string[]> }).dependencies ?? {};
    const failed = rows.filter((r) => r.state !== 'completed');
    const downstream = new Set<string>();
    const visit = (name: string) => {
      for (const k of deps[name] ?? []) if (!downstream.has(k)) {
        downstream.add(k);
        visit(k);
      }
    };
    for (const r of failed) visit(r.wfJob!);
    const redo = rows.filter((r) => r.state !== 'completed' || downstream.has(r.wfJob!));
    if (redo.length === 0) return this.getWorkflow(id)!;
    this.store.replaceWorkflowRows(
      id,
      redo.map((r) => r.id),
      redo.map((r) => ({ ref: `${r.wfJob}#${r.wfIndex}`, kind: 'job', cluster: r.cluster, ...(r.clusterUser !== null ? { clusterUser: r.clusterUser } : {}), spec: r.spec, wfJob: r.wfJob!, wfIndex: r.wfIndex, wfParams: r.wfParams })),
    );
    for (const r of this.reconcilers.values()) r.wake();
    return this.getWorkflow(id)!;
  }

  /**
   * Resolve when every current job of the workflow has ended, or with its view after
   * `timeoutMs` (or when `signal` aborts, or the bridge closes). Woken by the store's terminal
   * transitions of the workflow's jobs, never by polling.
   */
  waitWorkflow(id: number, timeoutMs: number, owner?: string, signal?: AbortSignal): Promise<WorkflowView> {
    const first = this.ownedWorkflow(id, owner);
    const done = (v: WorkflowView) => v.status === 'completed' || v.status === 'failed' || v.status === 'deleted';
    if (done(first) || timeoutMs <= 0 || signal?.aborted || this.closed) return Promise.resolve(first);
    return new Promise((resolve) => {
      const set = this.wfWaiters.get(id) ?? new Set<(force?: boolean) => void>();
      const check = (force = false) => {
        const v = this.store.isOpen ? this.getWorkflow(id)! : first;
        if (!force && !done(v)) return;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(check);
        if (set.size === 0) this.wfWaiters.delete(id);
        resolve(v);
      };
      const onAbort = () => check(true);
      const timer = setTimeout(() => check(true), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(check);
      this.wfWaiters.set(id, set);
    });
  }

  health(): ClusterHealth[] {
    return [...this.reconcilers.values()].map((r) => ({ ...r.health }));
  }

  reconciler(cluster: string): Reconciler | undefined {
    return this.reconcilers.get(cluster);
  }

  /** Stop reconcilers after their current tick, close transports, then the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Waiters get the job as it stands now, before the database closes under their timers.
    for (const [id, set] of this.waiters) {
      const job = this.store.get(id);
      if (job) for (const finish of [...set]) finish(job);
    }
    for (const set of [...this.wfWaiters.values()]) for (const check of [...set]) check(true);
    const errors: unknown[] = [];
    await Promise.all([...this.reconcilers.values()].map((r) => r.stop().catch((e) => errors.push(e))));
    await this.notifier.stop();
    await Promise.all(this.pools.map((p) => p.close().catch((e) => errors.push(e))));
    try {
      this.store.close();
    } catch (e) {
      errors.push(e);
    }
    if (errors.length) this.log.warn({ errors: errors.map(String) }, 'errors while closing');
  }

  /**
   * The daemon's per-user policy (settings `users:`): refuse a cluster the user may not use,
   * naming the field; fill in the user's scheduler account for that cluster when the definition
   * names none, so the stored definition records which allocation the job was charged to.
   */
  applyUserPolicy<T extends JobSpec>(owner: string, cluster: string, spec: T, field: string, what: 'job' | 'workflow'): T {
    const policy = this.settings.daemon.users[owner];
    if (!policy) return spec;
    if (policy.clusters && !policy.clusters.includes(cluster)) {
      const message = `user "${owner}" may not use cluster "${cluster}" (allowed: ${policy.clusters.join(', ')})`;
      throw new BridgeError('INVALID_DEFINITION', `invalid ${what} definition: ${field}: ${message}`, { context: { field, problems: [{ field, message }] } });
    }
    const account = policy.accounts[cluster];
    return account && spec.account === undefined ? { ...spec, account } : spec;
  }

  /**
   * The Unix account `owner`'s jobs run as on `cluster`: their identity there, or the cluster's
   * shared account where the operator declared one. Anyone else is refused, naming the cluster;
   * there is no fallback to another account.
   */
  identityOf(owner: string, cluster: string, field: string, what: 'job' | 'workflow'): string {
    const c = this.settings.clusters.find((x) => x.name === cluster)!;
    const refuse = (message: string) => new BridgeError('INVALID_DEFINITION', `invalid ${what} definition: ${field}: ${message}`, { context: { field, problems: [{ field, message }] } });
    if (c.transport === 'local') {
      // This machine: the daemon itself switches to the account (src/settings/localAccount.ts).
      const host = hostAccounts();
      const local = localAccountFor(this.settings.daemon, c, owner, host);
      if ('refusal' in local) throw refuse(local.refusal);
      if (host.root && local.user !== host.self) ensureAccountScratch(c.scratchRoot, lookupAccount(local.user)!);
      return local.user;
    }
    const id = identityFor(this.settings.daemon, c, owner);
    if (!id) throw refuse(`user "${owner}" has no identity on cluster "${cluster}" (an operator maps the user to a Unix account there: users.${owner}.identities.${cluster} in the daemon configuration)`);
    return id.user;
  }

  private logTransition(e: TransitionEvent): void {
    this.log.info(
      { jobId: e.job.id, cluster: e.job.cluster, nativeId: e.job.nativeId ?? undefined, from: e.from, to: e.to, status: e.job.status, reason: e.event.reason ?? undefined },
      `job ${e.job.id}: ${e.from} -> ${e.to}`,
    );
  }
}

/**
 * Transport options for one identity on a cluster (the passphrase is read from its file here).
 * Host, port, known hosts, jump host and the connection settings are the cluster's; the
 * account and its credential are the identity's (the cluster's own when none is given).
 */
export function transportOptions(c: ClusterConfig, id: Omit<ClusterIdentity, 'shared'> = sharedIdentity(c)): Parameters<typeof createTransport>[0] {
  // A local cluster runs as the identity's account: the daemon's own, or one a root daemon switches to.
  if (c.transport === 'local' || !c.ssh) return { kind: 'local', runAs: id.user };
  const s = c.ssh;
  const readPassphrase = (file: string | undefined) => (file ? readFileSync(file, 'utf8').replace(/\r?\n$/, '') : undefined);
  const passphrase = readPassphrase(id.passphraseFile);
  const jumpPassphrase = readPassphrase(s.jump?.passphraseFile);
  return {
    kind: 'ssh',
    host: s.host,
    port: s.port,
    user: id.user,
    ...(id.privateKey ? { privateKeyPath: id.privateKey } : {}),
    ...(passphrase !== undefined ? { passphrase } : {}),
    ...(id.agent ? { agent: id.agent === true ? (process.env.SSH_AUTH_SOCK ?? true) : id.agent } : {}),
    knownHostsPath: s.knownHosts,
    loginShell: s.loginShell,
    channelBudget: s.channelBudget,
    keepaliveIntervalMs: s.keepaliveSeconds * 1000,
    ...(s.jump
      ? {
          jump: {
            host: s.jump.host,
            port: s.jump.port,
            user: s.jump.user,
            ...(s.jump.privateKey ? { privateKeyPath: s.jump.privateKey } : {}),
            ...(jumpPassphrase !== undefined ? { passphrase: jumpPassphrase } : {}),
            ...(s.jump.agent ? { agent: s.jump.agent === true ? (process.env.SSH_AUTH_SOCK ?? true) : s.jump.agent } : {}),
            knownHostsPath: s.jump.knownHosts ?? s.knownHosts,
          },
        }
      : {}),
  } as Parameters<typeof createTransport>[0];
}

/** A cluster's scratch root for one Unix account. */
export function scratchRootFor(c: ClusterConfig, account: string): string {
  return c.scratchRoot.replaceAll('{user}', account);
}

/** How often a quiet event follower says it is alive; three missed ones restart it. */
const EVENT_HEARTBEAT_MS = 5000;

/**
 * The engine's view of a cluster: the base runtime acts as the cluster's own account; forAccount
 * gives the same cluster as another account (its pooled transport and its scratch root); the
 * monitor, when configured, polls for every account.
 */
export function clusterRuntime(c: ClusterConfig, settings: Settings, adapter: SchedulerAdapter, transportFor?: (c: ClusterConfig, account: string) => Transport): ClusterRuntime & { pool: TransportPool } {
  const own = clusterAccount(c);
  const make = (account: string): Transport => {
    if (transportFor) return transportFor(c, account.replace(/^monitor:/, ''));
    if (account.startsWith('monitor:') && c.monitor) return createTransport(transportOptions(c, { ...c.monitor, agent: c.monitor.agent ?? false }) as never);
    const id = identityForAccount(settings.daemon, c, account);
    if (!id) throw new BridgeError('INVALID_CONFIG', `cluster "${c.name}": no identity in the configuration logs in as "${account}"`, { context: { cluster: c.name, account } });
    return createTransport(transportOptions(c, id) as never);
  };
  const pool = new TransportPool(make, (c.ssh?.idleSeconds ?? 300) * 1000);
  const views = new Map<string, ClusterRuntime>();
  const base = {
    name: c.name,
    adapter,
    defaults: c.defaults,
    pollIntervalMs: c.pollIntervalSeconds * 1000,
    ...(c.events ? { events: { safetyPollMs: c.safetyPollSeconds * 1000, checkMs: c.eventCheckSeconds * 1000, heartbeatMs: EVENT_HEARTBEAT_MS } } : {}),
    lostGraceMs: c.lostGraceSeconds * 1000,
    submitBatchSize: c.submitBatchSize,
    submitRatePerSecond: c.submitRatePerSecond,
    submitsInFlight: c.submitsInFlight,
    commandTimeoutMs: c.commandTimeoutSeconds * 1000,
    submitTimeoutMs: c.submitTimeoutSeconds * 1000,
    ...(c.daemonUrlFromJobs ? { kvFromJobs: { daemonUrl: c.daemonUrlFromJobs } } : c.kvRelay ? { kvFromJobs: {} } : {}),
  };
  const view = (account: string): ClusterRuntime => {
    let v = views.get(account);
    if (!v) {
      v = { ...base, user: account, transport: pool.get(account), scratchRoot: scratchRootFor(c, account), forAccount: view };
      views.set(account, v);
    }
    return v;
  };
  const monitor = c.monitor ? { ...base, user: c.monitor.user, transport: pool.get(`monitor:${c.monitor.user}`), scratchRoot: scratchRootFor(c, c.monitor.user) } : undefined;
  const rt = { ...base, user: own, transport: pool.get(own), scratchRoot: scratchRootFor(c, own), forAccount: view, pool, ...(monitor ? { monitor } : {}) };
  views.set(own, rt);
  return rt;
}

/**
 * How a factory's instances become native arrays: none (each instance its own submission: no
 * native arrays, not a factory, fewer instances than the smallest array), one, or several of at
 * most `maxElements` each. A carrier's `wfIndex` is the index of its first instance, so its
 * element k is instance first + k. `maximumParallel` is shared out among the arrays (each gets
 * its floor share); when there are more arrays than it allows at once, the engine limits
 * single submissions instead, as it does where arrays are not native.
 */
function arrayChunks(arrays: NativeArrays | undefined, count: number, factory: boolean, parallel: number | undefined): { first: number; size: number; parallel?: number }[] {
  if (!arrays || !factory || count < (arrays.minElements ?? 1)) return [];
  const max = arrays.maxElements ?? count;
  const n = Math.ceil(count / max);
  if (parallel !== undefined && parallel < n) return [];
  // Sizes differ by one at most, so no array is a stub below minElements (maxElements >= 4).
  const out: { first: number; size: number; parallel?: number }[] = [];
  for (let c = 0, first = 0; c < n; c++) {
    const size = Math.floor(count / n) + (c < count % n ? 1 : 0);
    out.push({ first, size, ...(parallel !== undefined ? { parallel: Math.floor(parallel / n) } : {}) });
    first += size;
  }
  return out;
}

/**
 * The script of a native array: the template's resources and placement, and one task that runs
 * element k's own instance script (each instance has a normal job directory, so logs, exit
 * files and outputs stay per instance). `.hpcb/instances` is written at the carrier's stage-in.
 */
function carrierSpec(template: JobSpec): JobSpec {
  return {
    ...template,
    tasks: [
      {
        type: 'basic',
        cmd: carrierElementCommand(),
      },
    ],
    inputs: [],
    artifacts: [],
    outputFiles: [],
    outputDirs: [],
    policies: { ...template.policies, maximumRetries: 0, maximumTaskRetries: 0, maximumTimeInQueue: 0, ignoreTaskFailures: false },
  };
}
