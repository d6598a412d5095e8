/**
 * The bridge's memory: one SQLite file (better-sqlite3, WAL). Jobs, their labels and an
 * append-only event log. Every state change is one guarded transaction: the UPDATE only
 * applies if the job is still in one of the expected states, and the event row is written in
 * the same transaction, so a crash can never leave a state without its event or vice versa.
 *
 * better-sqlite3 is synchronous; the daemon's writes are tiny (tens of microseconds), so
 * they run on the event loop. Listings are bounded by `limit`.
 */
import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { BridgeError } from '../domain/errors.js';
import type { FinalInfo } from '../domain/adapter.js';
import type { JobSpec } from '../domain/jobSpec.js';
import {
  ACTIVE_STATES,
  canTransition,
  publicStatus,
  TERMINAL_STATES,
  type EventPhase,
  type JobState,
  type Outcome,
  type PublicStatus,
} from '../domain/state.js';
import { KvTables } from './kv.js';
import { MaintenanceTables } from './maintenance.js';
import { MIGRATIONS } from './migrations.js';
import { NotificationTables } from './notifications.js';
import { StagingTables } from './staging.js';
import { TokenTable } from './tokens.js';

export interface Accounting {
  elapsedSeconds?: number;
  maxRssBytes?: number;
  nodeList?: string;
  exitCode?: number | null;
  nativeState?: string;
}

export interface JobRecord {
  id: number;
  owner: string;
  cluster: string;
  /** The Unix account the job runs as on the cluster; null: the cluster's own account. */
  clusterUser: string | null;
  name: string;
  spec: JobSpec;
  labels: Record<string, string>;
  state: JobState;
  status: PublicStatus;
  statusReason: string | null;
  nativeId: string | null;
  nativeState: string | null;
  attempt: number;
  outcome: Outcome | null;
  nativeFinal: FinalInfo | null;
  taskExitCodes: (number | null)[] | null;
  exitCode: number | null;
  accounting: Accounting | null;
  cancelRequestedAt: number | null;
  idempotencyKey: string | null;
  workflowId: number | null;
  /** 'job' (every public job) or 'array' (a workflow's hidden carrier submission of a job array). */
  kind: 'job' | 'array';
  /** Workflow jobs: the job's name in the workflow, its instance index and parameters. */
  wfJob: string | null;
  wfIndex: number | null;
  wfParams: Record<string, string> | null;
  /** False once a rerun replaced this row. */
  wfCurrent: boolean;
  /** Instance of a native array: its carrier's id (its element index is wfIndex). */
  arrayJobId: number | null;
  /** Carrier: number of elements and the %P throttle. */
  arraySize: number | null;
  arrayParallel: number | null;
  /** Native ids the script waits on (scheduler afterok), fixed at stage-in. */
  afterOk: string[] | null;
  createdAt: number;
  submittedAt: number | null;
  startedAt: number | null;
  endedAt: number | null;
  updatedAt: number;
  absentSince: number | null;
  retryAt: number | null;
  stepFailures: number;
  lastError: string | null;
  /** The latest record of this attempt in the event log, until the engine acts on it. */
  eventPhase: EventPhase | null;
  eventExit: number | null;
  eventAt: number | null;
  /** Decided before accounting had a record: accounting is read later, until this time. */
  accountingDue: number | null;
}

/** Fields a transition or update may set besides the state. */
export interface JobPatch {
  statusReason?: string | null;
  nativeId?: string | null;
  nativeState?: string | null;
  attempt?: number;
  outcome?: Outcome | null;
  nativeFinal?: FinalInfo | null;
  taskExitCodes?: (number | null)[] | null;
  exitCode?: number | null;
  accounting?: Accounting | null;
  submittedAt?: number | null;
  startedAt?: number | null;
  endedAt?: number | null;
  absentSince?: number | null;
  retryAt?: number | null;
  stepFailures?: number;
  lastError?: string | null;
  arrayJobId?: number | null;
  afterOk?: string[] | null;
  eventPhase?: EventPhase | null;
  eventExit?: number | null;
  eventAt?: number | null;
  accountingDue?: number | null;
}

const PATCH_COLUMNS: Record<keyof JobPatch, { col: string; json?: boolean }> = {
  statusReason: { col: 'status_reason' },
  nativeId: { col: 'native_id' },
  nativeState: { col: 'native_state' },
  attempt: { col: 'attempt' },
  outcome: { col: 'outcome', json: true },
  nativeFinal: { col: 'native_final', json: true },
  taskExitCodes: { col: 'task_exit_codes', json: true },
  exitCode: { col: 'exit_code' },
  accounting: { col: 'accounting', json: true },
  submittedAt: { col: 'submitted_at' },
  startedAt: { col: 'started_at' },
  endedAt: { col: 'ended_at' },
  absentSince: { col: 'absent_since' },
  retryAt: { col: 'retry_at' },
  stepFailures: { col: 'step_failures' },
  lastError: { col: 'last_error' },
  arrayJobId: { col: 'array_job_id' },
  afterOk: { col: 'after_ok', json: true },
  eventPhase: { col: 'event_phase' },
  eventExit: { col: 'event_exit' },
  eventAt: { col: 'event_at' },
  accountingDue: { col: 'accounting_due' },
};

/** What one record of the event log says about one attempt of a job. */
export interface EventFact {
  jobId: number;
  attempt: number;
  phase: EventPhase;
  exitCode: number | null;
  at: number;
}

/** How far an account's event log has been read. */
export interface EventOffset {
  logPath: string;
  inode: string | null;
  offset: number;
}

export interface JobEvent {
  id: number;
  jobId: number;
  at: number;
  from: JobState | null;
  to: JobState;
  reason: string | null;
  detail: unknown;
}

export interface TransitionEvent {
  job: JobRecord;
  from: JobState;
  to: JobState;
  event: JobEvent;
}

export interface JobFilter {
  owner?: string;
  cluster?: string;
  /** 'active' (default), 'completed' (terminal only), or 'all'. */
  scope?: 'active' | 'completed' | 'all';
  status?: PublicStatus;
  name?: string;
  labels?: Record<string, string>;
  workflowId?: number;
  limit?: number;
  /** Only ids below this (for paging newest first). */
  beforeId?: number;
}

export interface NewJob {
  owner: string;
  cluster: string;
  /** The Unix account the job runs as (the owner's identity on the cluster). */
  clusterUser?: string;
  spec: JobSpec;
  idempotencyKey?: string;
  workflowId?: number;
}

/** One row of a new workflow: an instance (kind 'job') or a carrier (kind 'array'). */
export interface NewWorkflowRow {
  /** Local reference so instances can name their carrier before ids exist. */
  ref: string;
  kind: 'job' | 'array';
  cluster: string;
  clusterUser?: string;
  spec: JobSpec;
  wfJob: string;
  wfIndex: number | null;
  wfParams: Record<string, string> | null;
  /** Instances: the ref of their carrier. */
  carrierRef?: string;
  arraySize?: number;
  arrayParallel?: number;
}

/** An event with the fields the event stream sends (the detail stays in the job's history). */
export interface OwnerEvent {
  id: number;
  jobId: number;
  at: number;
  from: JobState | null;
  to: JobState;
  reason: string | null;
}

export interface WorkflowRecord {
  id: number;
  owner: string;
  name: string;
  spec: unknown;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
  reruns: number;
}

type Row = Record<string, unknown>;

/** One job_events row as the store's callers see it (without its detail). */
function eventRow(r: Row): OwnerEvent {
  return {
    id: r.id as number,
    jobId: r.job_id as number,
    at: r.at as number,
    from: (r.from_state as JobState | null) ?? null,
    to: r.to_state as JobState,
    reason: (r.reason as string | null) ?? null,
  };
}

/** Rows written since an active list was read beyond which it is read whole again. */
const PATCH_LIMIT = 200;

/** One cached active list of Store.activeOnCluster. */
interface ActiveList {
  /** data_version when the list was read: another connection's commit changes it. */
  dataVersion: number;
  /** Jobs this connection wrote since then. */
  touched: Set<number>;
  jobs: readonly JobRecord[];
}

function parseJson<T>(v: unknown): T | null {
  return typeof v === 'string' ? (JSON.parse(v) as T) : null;
}

/**
 * The one connection is private: every statement against the schema in migrations/ lives in this
 * folder, either here (jobs, events, workflows) or in a repository that shares the connection
 * (`staging`, `tokens`, `maintenance`, `kv`), so a change of the schema is a change of this folder only.
 */
export class Store extends EventEmitter<{ transition: [TransitionEvent] }> {
  private readonly db: Database.Database;
  /** Transitions of a batch() in progress, announced once it committed. */
  private deferred: TransitionEvent[] | null = null;
  /** The database file this store was opened on (':memory:' for tests). */
  readonly file: string;
  /** Artifact names, resolved artifacts, cluster caches, stage-out progress. */
  readonly staging: StagingTables;
  /** API token rows (the token logic is src/auth/tokens.ts). */
  readonly tokens: TokenTable;
  /** Retention queries, scratch bookkeeping and the online backup. */
  readonly maintenance: MaintenanceTables;
  /** The notification outbox; its rows are enqueued inside terminal transitions. */
  readonly notifications: NotificationTables;
  /** The key-value store and its job credentials (the rules are src/kv/). */
  readonly kv: KvTables;
  private readonly now: () => number;
  private readonly stmts;
  /**
   * Active lists (per cluster, or per cluster and states), each with the ids this connection
   * wrote since it was read (`touched`): a list is patched from those rows alone, and read whole
   * only when another connection committed (data_version) or too many rows changed.
   */
  private readonly activeCache = new Map<string, ActiveList>();
  /**
   * The definition and labels of active jobs, decoded once: neither ever changes after the job
   * is created (ids are never reused: AUTOINCREMENT), and re-reading and parsing them was most
   * of what a tick's reads cost with hundreds of jobs in flight.
   */
  private readonly fixedParts = new Map<number, { cluster: string; spec: JobSpec; labels: Record<string, string> }>();
  /** Every column of `jobs` but the definition (activeOnCluster reads it only for new jobs). */
  private readonly activeColumns: string;
  private readonly prepared = new Map<string, Database.Statement>();

  private constructor(db: Database.Database, file: string, now: () => number) {
    super();
    this.db = db;
    this.file = file;
    this.now = now;
    this.staging = new StagingTables(db);
    this.tokens = new TokenTable(db);
    this.maintenance = new MaintenanceTables(db);
    this.notifications = new NotificationTables(db);
    this.kv = new KvTables(db);
    const columns = (db.pragma('table_info(jobs)') as { name: string }[]).map((c) => c.name).filter((c) => c !== 'spec');
    this.activeColumns = columns.join(', ');
    this.stmts = {
      get: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      labels: db.prepare('SELECT key, value FROM job_labels WHERE job_id = ?'),
      byIdem: db.prepare('SELECT id FROM jobs WHERE owner = ? AND idempotency_key = ?'),
      insert: db.prepare(
        `INSERT INTO jobs (owner, cluster, cluster_user, name, spec, state, idempotency_key, workflow_id, created_at, updated_at)
         VALUES (@owner, @cluster, @clusterUser, @name, @spec, 'accepted', @idem, @workflowId, @now, @now)`,
      ),
      insertWfJob: db.prepare(
        `INSERT INTO jobs (owner, cluster, cluster_user, name, spec, state, workflow_id, kind, wf_job, wf_index, wf_params, array_job_id, array_size, array_parallel, created_at, updated_at)
         VALUES (@owner, @cluster, @clusterUser, @name, @spec, 'accepted', @workflowId, @kind, @wfJob, @wfIndex, @wfParams, @arrayJobId, @arraySize, @arrayParallel, @now, @now)`,
      ),
      insertWorkflow: db.prepare(
        `INSERT INTO workflows (owner, name, spec, created_at, updated_at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      workflowByIdem: db.prepare('SELECT id FROM workflows WHERE owner = ? AND idempotency_key = ?'),
      getWorkflow: db.prepare('SELECT * FROM workflows WHERE id = ?'),
      workflowIds: db.prepare('SELECT id FROM workflows WHERE owner = ? ORDER BY id DESC LIMIT ?'),
      workflowDeleted: db.prepare('UPDATE workflows SET deleted_at = COALESCE(deleted_at, ?), updated_at = ? WHERE id = ?'),
      workflowRerun: db.prepare('UPDATE workflows SET reruns = reruns + 1, updated_at = ?, deleted_at = NULL WHERE id = ?'),
      retireRow: db.prepare(
        `UPDATE jobs SET wf_current = 0, updated_at = ? WHERE id = ? AND workflow_id = ? AND wf_current = 1 AND state IN ('completed', 'failed', 'killed', 'deleted')`,
      ),
      workflowRows: db.prepare(`SELECT * FROM jobs WHERE workflow_id = ? ORDER BY id`),
      insertLabel: db.prepare('INSERT INTO job_labels (job_id, key, value) VALUES (?, ?, ?)'),
      insertEvent: db.prepare(
        'INSERT INTO job_events (job_id, at, from_state, to_state, reason, detail) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      events: db.prepare('SELECT * FROM job_events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?'),
      active: db.prepare(`SELECT ${this.activeColumns} FROM jobs WHERE cluster = ? AND state NOT IN ('completed', 'failed', 'killed', 'deleted') ORDER BY id`),
      ownerEvents: db.prepare(
        `SELECT e.id, e.job_id, e.at, e.from_state, e.to_state, e.reason FROM job_events e JOIN jobs j ON j.id = e.job_id
         WHERE j.owner = ? AND e.id > ? ORDER BY e.id LIMIT ?`,
      ),
      lastEventId: db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM job_events'),
      jobCounts: db.prepare('SELECT cluster, state, COUNT(*) AS n FROM jobs GROUP BY cluster, state'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    };
  }

  /** Open (and migrate) the database at `path`; ':memory:' for tests. */
  static open(path: string, opts: { now?: () => number } = {}): Store {
    if (path !== ':memory:') {
      // The data directory holds the database, artifacts and every collected output: a daemon
      // that creates it makes it its own alone (an existing one keeps the operator's mode).
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // The database holds token hashes and every job definition (environment values included):
      // owner-only from its first byte. SQLite gives the -wal and -shm files the same mode.
      if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    }
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode may lose the last commits on power loss but never corrupts; the
    // scheduler and the job's own files on the cluster let the engine re-derive what was lost.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    migrate(db);
    const store = new Store(db, path, opts.now ?? Date.now);
    if (!store.getMeta('instance')) store.setMeta('instance', randomBytes(3).toString('hex'));
    return store;
  }

  /** A short random id of this database, part of every scheduler tag (ids restart with a new DB). */
  instanceId(): string {
    return this.getMeta('instance')!;
  }

  getMeta(key: string): string | undefined {
    return (this.stmts.getMeta.get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmts.setMeta.run(key, value);
  }

  /**
   * Persist a validated job in state `accepted` with its first event. With an idempotency key
   * already used by this owner, returns the existing job and `created: false`.
   */
  createJob(input: NewJob): { job: JobRecord; created: boolean } {
    const tx = this.db.transaction((): { id: number; created: boolean } => {
      if (input.idempotencyKey) {
        const existing = this.stmts.byIdem.get(input.owner, input.idempotencyKey) as { id: number } | undefined;
        if (existing) return { id: existing.id, created: false };
      }
      const now = this.now();
      const info = this.stmts.insert.run({
        owner: input.owner,
        cluster: input.cluster,
        clusterUser: input.clusterUser ?? null,
        name: input.spec.name,
        spec: JSON.stringify(input.spec),
        idem: input.idempotencyKey ?? null,
        workflowId: input.workflowId ?? null,
        now,
      });
      const id = Number(info.lastInsertRowid);
      this.touched(id);
      for (const [k, v] of Object.entries(input.spec.labels)) this.stmts.insertLabel.run(id, k, v);
      this.stmts.insertEvent.run(id, now, null, 'accepted', 'accepted', null);
      return { id, created: true };
    });
    const { id, created } = tx.immediate();
    return { job: this.get(id)!, created };
  }

  get(id: number): JobRecord | undefined {
    // An active job's definition and labels are decoded already (fixedParts): read the rest.
    const fixed = this.fixedParts.get(id);
    if (fixed) {
      const row = this.statement(`SELECT ${this.activeColumns} FROM jobs WHERE id = ?`).get(id) as Row | undefined;
      return row ? this.toRecord(row, fixed.labels, fixed.spec) : undefined;
    }
    const row = this.stmts.get.get(id) as Row | undefined;
    return row ? this.toRecord(row) : undefined;
  }

  /** A job only if it belongs to `owner`: another user's id is indistinguishable from a missing one. */
  getOwned(id: number, owner: string): JobRecord | undefined {
    const job = this.get(id);
    return job && job.owner === owner ? job : undefined;
  }

  /**
   * The active jobs of a cluster, oldest first. A reconciler tick asks for them after each of
   * its steps; with 10,000 jobs pending, reading and decoding them every time cost seconds of CPU
   * per tick while nothing had changed. So the list is kept: rows this connection wrote since
   * (every write to `jobs` here notes its id: `touched`) are read again and put in place, and a
   * commit by any other connection (data_version) means a whole new read. `states` limits the
   * list to some states (a step's own jobs). The records are frozen: callers share them.
   */
  activeOnCluster(cluster: string, states?: readonly JobState[]): readonly JobRecord[] {
    const dataVersion = this.db.pragma('data_version', { simple: true }) as number;
    const key = states ? `${cluster}\0${states.join(',')}` : cluster;
    const list = this.activeCache.get(key);
    if (list && list.dataVersion === dataVersion) {
      if (list.touched.size > 0) this.patchActive(list, cluster, states);
      return list.jobs;
    }
    return this.readActive(key, cluster, states, dataVersion);
  }

  private readActive(key: string, cluster: string, states: readonly JobState[] | undefined, dataVersion: number): readonly JobRecord[] {
    const rows = (states ? this.activeInStatement(states).all(cluster, ...states) : this.stmts.active.all(cluster)) as Row[];
    const jobs = Object.freeze(this.activeRecords(cluster, rows, !states).map((j) => Object.freeze(j)));
    this.activeCache.set(key, { dataVersion, touched: new Set(), jobs });
    return jobs;
  }

  /** Re-read only the rows this connection wrote since the list was read, and put them in place. */
  private patchActive(list: ActiveList, cluster: string, states: readonly JobState[] | undefined): void {
    const ids = [...list.touched];
    list.touched.clear();
    const rows = this.statement(`SELECT ${this.activeColumns} FROM jobs WHERE id IN (${ids.map(() => '?').join(', ')})`).all(...ids) as Row[];
    const fits = (r: Row) => r.cluster === cluster && !TERMINAL_STATES.includes(r.state as JobState) && (!states || states.includes(r.state as JobState));
    const fresh = new Map(this.activeRecords(cluster, rows.filter(fits), false).map((j) => [j.id, Object.freeze(j)] as const));
    const byId = new Map(list.jobs.map((j) => [j.id, j] as const));
    for (const id of ids) {
      const j = fresh.get(id);
      if (j) byId.set(id, j);
      else byId.delete(id);
    }
    list.jobs = Object.freeze([...byId.values()].sort((a, b) => a.id - b.id));
  }

  /**
   * Note a write to job `id` for every cached active list (activeOnCluster patches them). A list
   * that many writes passed by (nobody read it meanwhile) is dropped: it is read whole next time.
   */
  private touched(id: number): void {
    for (const [key, list] of this.activeCache) {
      list.touched.add(id);
      if (list.touched.size > PATCH_LIMIT) this.activeCache.delete(key);
    }
  }

  /** Prepared once per distinct text (updates build theirs from the fields they set). */
  private statement(sql: string): Database.Statement {
    let stmt = this.prepared.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.prepared.set(sql, stmt);
    }
    return stmt;
  }

  /** A step's own jobs (some active states only): a tick re-reads after each step, not every job. */
  private activeInStatement(states: readonly JobState[]): Database.Statement {
    const where = `cluster = ? AND state IN (${states.map(() => '?').join(', ')}) AND state NOT IN ('completed', 'failed', 'killed', 'deleted')`;
    return this.statement(`SELECT ${this.activeColumns} FROM jobs WHERE ${where} ORDER BY id`);
  }

  /** Rows without their definition: the fixed parts come from fixedParts, read once per job. */
  private activeRecords(cluster: string, rows: Row[], all: boolean): JobRecord[] {
    const missing = rows.filter((r) => !this.fixedParts.has(r.id as number)).map((r) => r.id as number);
    for (let i = 0; i < missing.length; i += 500) {
      const ids = missing.slice(i, i + 500);
      const marks = ids.map(() => '?').join(', ');
      const labels = new Map<number, Record<string, string>>(ids.map((id) => [id, {}]));
      for (const l of this.db.prepare(`SELECT job_id, key, value FROM job_labels WHERE job_id IN (${marks})`).all(...ids) as { job_id: number; key: string; value: string }[]) {
        labels.get(l.job_id)![l.key] = l.value;
      }
      for (const r of this.db.prepare(`SELECT id, spec FROM jobs WHERE id IN (${marks})`).all(...ids) as { id: number; spec: string }[]) {
        this.fixedParts.set(r.id, { cluster, spec: JSON.parse(r.spec) as JobSpec, labels: labels.get(r.id)! });
      }
    }
    if (all) {
      // A full read is the cluster's whole active list: the parts of jobs that left it can go.
      const active = new Set(rows.map((r) => r.id as number));
      for (const [id, f] of this.fixedParts) if (f.cluster === cluster && !active.has(id)) this.fixedParts.delete(id);
    }
    return rows.map((r) => {
      const fixed = this.fixedParts.get(r.id as number)!;
      return this.toRecord(r, fixed.labels, fixed.spec);
    });
  }

  list(filter: JobFilter = {}): JobRecord[] {
    // Carriers are an implementation detail of native arrays; their instances are the jobs.
    const where: string[] = ["kind = 'job'"];
    const params: unknown[] = [];
    if (filter.owner !== undefined) {
      where.push('owner = ?');
      params.push(filter.owner);
    }
    if (filter.cluster !== undefined) {
      where.push('cluster = ?');
      params.push(filter.cluster);
    }
    const terminal = TERMINAL_STATES.map((s) => `'${s}'`).join(', ');
    const scope = filter.scope ?? 'active';
    if (scope === 'active') where.push(`state NOT IN (${terminal})`);
    if (scope === 'completed') where.push(`state IN (${terminal})`);
    if (filter.status !== undefined) {
      const states = [...ACTIVE_STATES, ...TERMINAL_STATES].filter((s) => publicStatus(s) === filter.status);
      where.push(`state IN (${states.map(() => '?').join(', ')})`);
      params.push(...states);
    }
    if (filter.name !== undefined) {
      where.push('name = ?');
      params.push(filter.name);
    }
    if (filter.workflowId !== undefined) {
      where.push('workflow_id = ?');
      params.push(filter.workflowId);
    }
    if (filter.beforeId !== undefined) {
      where.push('id < ?');
      params.push(filter.beforeId);
    }
    for (const [k, v] of Object.entries(filter.labels ?? {})) {
      where.push('EXISTS (SELECT 1 FROM job_labels l WHERE l.job_id = jobs.id AND l.key = ? AND l.value = ?)');
      params.push(k, v);
    }
    const limit = Math.min(Math.max(filter.limit ?? 1000, 1), 10000);
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`;
    return this.toRecords(this.db.prepare(sql).all(...params) as Row[]);
  }

  // ---- Summaries for lists and the dashboard (issue 17) ---------------------------------------

  /** How many of an owner's jobs are in each public status (carriers of native arrays excluded). */
  statusCounts(owner: string): Partial<Record<PublicStatus, number>> {
    const rows = this.db.prepare("SELECT state, COUNT(*) AS n FROM jobs WHERE owner = ? AND kind = 'job' GROUP BY state").all(owner) as { state: JobState; n: number }[];
    const out: Partial<Record<PublicStatus, number>> = {};
    for (const r of rows) {
      const s = publicStatus(r.state);
      out[s] = (out[s] ?? 0) + r.n;
    }
    return out;
  }

  /** The owner's jobs that resolved an artifact to these bytes (newest first, at most `limit`). */
  jobsUsingArtifact(owner: string, sha256: string, limit = 20): number[] {
    const rows = this.db
      .prepare("SELECT DISTINCT j.id FROM job_artifacts a JOIN jobs j ON j.id = a.job_id WHERE a.sha256 = ? AND j.owner = ? AND j.kind = 'job' ORDER BY j.id DESC LIMIT ?")
      .all(sha256, owner, limit) as { id: number }[];
    return rows.map((r) => r.id);
  }

  // ---- end of summaries ------------------------------------------------------------------------

  /**
   * Move a job from one of `from` to `to`, apply `patch`, and append an event, atomically.
   * Throws STALE_STATE if the job is no longer in an expected state (someone else moved it),
   * and INTERNAL if the state machine does not allow the move.
   */
  transition(
    id: number,
    from: readonly JobState[],
    to: JobState,
    patch: JobPatch = {},
    reason?: string,
    detail?: unknown,
  ): JobRecord {
    let fromState: JobState | undefined;
    let eventId = 0;
    const now = this.now();
    const tx = this.db.transaction(() => {
      const row = this.stmts.get.get(id) as Row | undefined;
      if (!row) throw new BridgeError('NOT_FOUND', `job ${id} does not exist`, { context: { jobId: id } });
      fromState = row.state as JobState;
      if (!from.includes(fromState)) {
        throw new BridgeError('STALE_STATE', `job ${id} is ${fromState}, expected ${from.join(' or ')}`, {
          context: { jobId: id },
        });
      }
      if (!canTransition(fromState, to)) {
        throw new BridgeError('INTERNAL', `job ${id}: transition ${fromState} -> ${to} is not allowed`, {
          context: { jobId: id },
        });
      }
      const { sets, values } = patchSql(patch);
      sets.push('state = ?', 'updated_at = ?');
      values.push(to, now);
      if (TERMINAL_STATES.includes(to) && patch.endedAt === undefined) {
        sets.push('ended_at = COALESCE(ended_at, ?)');
        values.push(now);
      }
      const res = this.statement(`UPDATE jobs SET ${sets.join(', ')} WHERE id = ? AND state = ?`).run(...values, id, fromState);
      this.touched(id);
      if (res.changes !== 1) {
        throw new BridgeError('STALE_STATE', `job ${id} changed underneath a transition`, { context: { jobId: id } });
      }
      const ev = this.stmts.insertEvent.run(id, now, fromState, to, reason ?? null, detail === undefined ? null : JSON.stringify(detail));
      eventId = Number(ev.lastInsertRowid);
      // In this transaction: the outbox row exists exactly when the terminal state does.
      if (TERMINAL_STATES.includes(to)) this.enqueueFinished(id, now);
    });
    tx.immediate();
    const job = this.get(id)!;
    const event: JobEvent = { id: eventId, jobId: id, at: now, from: fromState!, to, reason: reason ?? null, detail: detail ?? null };
    if (this.deferred) this.deferred.push({ job, from: fromState!, to, event });
    else this.emit('transition', { job, from: fromState!, to, event });
    return job;
  }

  private enqueueFinished(id: number, now: number): void {
    const job = this.toRecord(this.stmts.get.get(id) as Row);
    if (job.kind === 'job') this.notifications.enqueueJobFinished({ ...job, notifications: job.spec.notifications }, now);
    if (job.workflowId !== null) this.notifications.enqueueWorkflowFinishedIfDone(job.workflowId, now);
  }

  /**
   * Run `fn` (transitions and updates of many jobs) as one write transaction: each transition
   * stays guarded and atomic (a savepoint of its own), but a sweep's thousand moves share one
   * commit instead of paying one each.
   */
  batch<T>(fn: () => T): T {
    if (this.deferred) return fn();
    this.deferred = [];
    let events: TransitionEvent[] = [];
    try {
      const result = this.db.transaction(fn).immediate();
      events = this.deferred;
      return result;
    } finally {
      // Listeners hear of the moves once they are committed, never of a rolled-back one.
      this.deferred = null;
      for (const e of events) this.emit('transition', e);
    }
  }

  /**
   * Update fields without changing state, only while the job is in one of `inStates`
   * (observations such as the raw scheduler state, absent-since, step backoff).
   * Returns false if the job had moved on.
   */
  update(id: number, inStates: readonly JobState[], patch: JobPatch): boolean {
    const { sets, values } = patchSql(patch);
    if (sets.length === 0) return true;
    sets.push('updated_at = ?');
    values.push(this.now());
    const placeholders = inStates.map(() => '?').join(', ');
    const res = this.statement(`UPDATE jobs SET ${sets.join(', ')} WHERE id = ? AND state IN (${placeholders})`).run(...values, id, ...inStates);
    this.touched(id);
    return res.changes === 1;
  }

  // ------------------------------------------------------------------ cancel requests
  // A cancel request is one guarded transaction with one event row (the state does not change:
  // the engine carries the cancel out and records the move it makes).

  /**
   * Record that the job should be cancelled. Only a job that has not ended takes the request; a
   * second request changes nothing and adds no event. Returns the job as it is now.
   */
  requestCancel(id: number, reason = 'cancel requested'): JobRecord | undefined {
    this.cancelTx(id, undefined, undefined, reason);
    return this.get(id);
  }

  /**
   * The engine will not let a queued job run (its dependency can never be satisfied, it waited
   * longer than maximumTimeInQueue): decide its outcome and request its cancel at once, while it
   * is in one of `from`. Returns false if the job had moved on or already had a cancel request.
   */
  decideAndCancel(id: number, from: readonly JobState[], outcome: Outcome): boolean {
    return this.cancelTx(id, from, outcome, `cancel requested: ${outcome.reason}`);
  }

  private cancelTx(id: number, from: readonly JobState[] | undefined, outcome: Outcome | undefined, reason: string): boolean {
    const now = this.now();
    const tx = this.db.transaction((): boolean => {
      const row = this.stmts.get.get(id) as Row | undefined;
      if (!row || row.cancel_requested_at !== null) return false;
      const state = row.state as JobState;
      if (TERMINAL_STATES.includes(state) || (from && !from.includes(state))) return false;
      const { sets, values } = patchSql(outcome ? { outcome, statusReason: outcome.reason } : {});
      sets.push('cancel_requested_at = ?', 'updated_at = ?');
      values.push(now, now);
      this.statement(`UPDATE jobs SET ${sets.join(', ')} WHERE id = ? AND state = ?`).run(...values, id, state);
      this.touched(id);
      this.stmts.insertEvent.run(id, now, state, state, reason, outcome ? JSON.stringify({ outcome }) : null);
      return true;
    });
    return tx.immediate();
  }

  events(jobId: number, afterId = 0, limit = 1000): JobEvent[] {
    return (this.stmts.events.all(jobId, afterId, limit) as Row[]).map((r) => ({
      ...eventRow(r),
      detail: parseJson(r.detail),
    }));
  }

  /**
   * Persist a workflow and all its rows (carriers first, so instances can point at them) in one
   * transaction: a bad request never leaves half a workflow behind.
   */
  /** Persist a workflow and its rows. With an idempotency key already used by this owner, the earlier workflow is returned instead (`created` false). */
  createWorkflow(input: { owner: string; name: string; spec: unknown; labels: Record<string, string>; rows: NewWorkflowRow[]; idempotencyKey?: string }): { workflow: WorkflowRecord; created: boolean } {
    const tx = this.db.transaction((): { id: number; created: boolean } => {
      if (input.idempotencyKey) {
        const existing = this.stmts.workflowByIdem.get(input.owner, input.idempotencyKey) as { id: number } | undefined;
        if (existing) return { id: existing.id, created: false };
      }
      const now = this.now();
      const wf = Number(this.stmts.insertWorkflow.run(input.owner, input.name, JSON.stringify(input.spec), now, now, input.idempotencyKey ?? null).lastInsertRowid);
      this.insertRows(wf, input.owner, input.rows, now);
      return { id: wf, created: true };
    });
    const { id, created } = tx.immediate();
    return { workflow: this.getWorkflow(id)!, created };
  }

  private insertRows(workflowId: number, owner: string, rows: NewWorkflowRow[], now: number): number[] {
    const ids = new Map<string, number>();
    const out: number[] = [];
    const ordered = [...rows.filter((r) => r.kind === 'array'), ...rows.filter((r) => r.kind === 'job')];
    for (const row of ordered) {
      const carrier = row.carrierRef !== undefined ? ids.get(row.carrierRef) : undefined;
      if (row.carrierRef !== undefined && carrier === undefined) throw new BridgeError('INTERNAL', `carrier ${row.carrierRef} missing`);
      const id = Number(
        this.stmts.insertWfJob.run({
          owner,
          cluster: row.cluster,
          clusterUser: row.clusterUser ?? null,
          name: row.spec.name,
          spec: JSON.stringify(row.spec),
          workflowId,
          kind: row.kind,
          wfJob: row.wfJob,
          wfIndex: row.wfIndex,
          wfParams: row.wfParams ? JSON.stringify(row.wfParams) : null,
          arrayJobId: carrier ?? null,
          arraySize: row.arraySize ?? null,
          arrayParallel: row.arrayParallel ?? null,
          now,
        }).lastInsertRowid,
      );
      ids.set(row.ref, id);
      this.touched(id);
      if (row.kind === 'job') {
        out.push(id);
        for (const [k, v] of Object.entries(row.spec.labels)) this.stmts.insertLabel.run(id, k, v);
      }
      this.stmts.insertEvent.run(id, now, null, 'accepted', row.kind === 'array' ? 'accepted (array submission)' : 'accepted', null);
    }
    return out;
  }

  /**
   * Replace rows by new ones in one transaction (a rerun): the old rows stay as history with
   * wf_current = 0. Refuses (STALE_STATE) if any of them is no longer terminal or current.
   */
  replaceWorkflowRows(workflowId: number, oldIds: number[], rows: NewWorkflowRow[]): number[] {
    const tx = this.db.transaction((): number[] => {
      const wf = this.getWorkflow(workflowId);
      if (!wf) throw new BridgeError('NOT_FOUND', `workflow ${workflowId} not found`);
      const now = this.now();
      for (const id of oldIds) {
        const res = this.stmts.retireRow.run(now, id, workflowId);
        this.touched(id);
        if (res.changes !== 1) throw new BridgeError('STALE_STATE', `job ${id} of workflow ${workflowId} changed during the rerun`);
      }
      this.stmts.workflowRerun.run(now, workflowId);
      return this.insertRows(workflowId, wf.owner, rows, now);
    });
    return tx.immediate();
  }

  getWorkflow(id: number): WorkflowRecord | undefined {
    const r = this.stmts.getWorkflow.get(id) as Row | undefined;
    if (!r) return undefined;
    return {
      id: r.id as number,
      owner: r.owner as string,
      name: r.name as string,
      spec: JSON.parse(r.spec as string),
      createdAt: r.created_at as number,
      updatedAt: r.updated_at as number,
      deletedAt: (r.deleted_at as number | null) ?? null,
      reruns: r.reruns as number,
    };
  }

  listWorkflows(owner: string, limit = 1000): WorkflowRecord[] {
    const ids = this.stmts.workflowIds.all(owner, Math.min(Math.max(limit, 1), 10000)) as { id: number }[];
    return ids.map((r) => this.getWorkflow(r.id)!);
  }

  markWorkflowDeleted(id: number): void {
    const now = this.now();
    this.stmts.workflowDeleted.run(now, now, id);
  }

  /** Every row of a workflow (carriers and replaced rows included), oldest first. */
  workflowJobs(workflowId: number): JobRecord[] {
    return this.toRecords(this.stmts.workflowRows.all(workflowId) as Row[]);
  }

  /**
   * The instances of an array carrier (rows whose array_job_id is `carrierId`), with only what
   * the engine reads of them: a carrier's element list and its closing ask every tick, and a
   * whole workflow's records of a 10,000-instance sweep, read per carrier, cost seconds.
   */
  carrierInstances(workflowId: number, carrierId: number): { id: number; wfIndex: number | null; state: JobState }[] {
    const rows = this.statement('SELECT id, wf_index, state FROM jobs WHERE workflow_id = ? AND array_job_id = ? ORDER BY id').all(workflowId, carrierId) as { id: number; wf_index: number | null; state: JobState }[];
    return rows.map((r) => ({ id: r.id, wfIndex: r.wf_index, state: r.state }));
  }

  /**
   * Events of every job of `owner` after event id `afterId`, oldest first (the event stream
   * resumes from the last id it sent).
   */
  ownerEventsAfter(owner: string, afterId: number, limit: number): OwnerEvent[] {
    return (this.stmts.ownerEvents.all(owner, afterId, limit) as Row[]).map(eventRow);
  }

  /** The id of the newest event of any job (0 with none): where a stream without history starts. */
  lastEventId(): number {
    return (this.stmts.lastEventId.get() as { id: number }).id;
  }

  /** How many jobs (carriers included) each cluster has in each state; absent pairs have none. */
  jobCounts(): { cluster: string; state: JobState; n: number }[] {
    return this.stmts.jobCounts.all() as { cluster: string; state: JobState; n: number }[];
  }

  /** False once closed (waiters that fire after shutdown must not read). */
  get isOpen(): boolean {
    return this.db.open;
  }

  // ------------------------------------------------------------------ event log

  /** How far `account`'s event log on `cluster` has been read, if ever. */
  eventOffset(cluster: string, account: string): EventOffset | undefined {
    const r = this.db.prepare('SELECT log_path, inode, offset FROM event_offsets WHERE cluster = ? AND account = ?').get(cluster, account) as Row | undefined;
    return r ? { logPath: r.log_path as string, inode: (r.inode as string | null) ?? null, offset: r.offset as number } : undefined;
  }

  /**
   * Record what some records said and move the log's offset past them, in one transaction: a
   * crash leaves either both or neither, so a record is applied exactly once. A fact is kept
   * only for the attempt it names, on a job of this cluster that has not ended, and never
   * replaces a later phase (an end is not undone by a start). Returns the facts kept.
   */
  recordEvents(cluster: string, account: string, at: EventOffset, facts: readonly EventFact[]): number {
    const rank = `CASE event_phase WHEN 'start' THEN 1 WHEN 'end' THEN 2 WHEN 'term' THEN 2 ELSE 0 END`;
    const fact = this.db.prepare(
      `UPDATE jobs SET event_phase = ?, event_exit = ?, event_at = ?, updated_at = ?
       WHERE id = ? AND attempt = ? AND cluster = ? AND state NOT IN ('completed', 'failed', 'killed', 'deleted')
         AND ${rank} < ?`,
    );
    const offset = this.db.prepare(
      `INSERT INTO event_offsets (cluster, account, log_path, inode, offset, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(cluster, account) DO UPDATE SET log_path = excluded.log_path, inode = excluded.inode, offset = excluded.offset, updated_at = excluded.updated_at`,
    );
    const now = this.now();
    return this.db.transaction((): number => {
      let kept = 0;
      for (const f of facts) {
        const changed = fact.run(f.phase, f.exitCode, f.at, now, f.jobId, f.attempt, cluster, f.phase === 'start' ? 1 : 2).changes;
        // The cached active lists must see the record: the events step reads them.
        if (changed > 0) this.touched(f.jobId);
        kept += changed;
      }
      offset.run(cluster, account, at.logPath, at.inode, at.offset, now);
      return kept;
    }).immediate();
  }

  /** Of `facts`, those that name no job of `cluster` at that attempt (the follower reports them). */
  unknownEventJobs<F extends EventFact>(cluster: string, facts: readonly F[]): F[] {
    const q = this.statement('SELECT 1 FROM jobs WHERE id = ? AND attempt = ? AND cluster = ?');
    return facts.filter((f) => q.get(f.jobId, f.attempt, cluster) === undefined);
  }

  /** Jobs of `cluster` decided before accounting had their record, oldest first. */
  accountingDue(cluster: string, limit = 50): JobRecord[] {
    const rows = this.db.prepare('SELECT * FROM jobs WHERE cluster = ? AND accounting_due IS NOT NULL ORDER BY accounting_due LIMIT ?').all(cluster, limit) as Row[];
    return this.toRecords(rows);
  }

  /**
   * Accounting (and the scheduler's final view) learned after the job was decided: any state,
   * and the state never changes here. Nothing already recorded is replaced.
   */
  fillAccounting(id: number, accounting: Accounting | null, final: FinalInfo | null): void {
    this.db
      .prepare(
        'UPDATE jobs SET accounting = COALESCE(accounting, ?), native_final = COALESCE(native_final, ?), accounting_due = NULL WHERE id = ?',
      )
      .run(accounting === null ? null : JSON.stringify(accounting), final === null ? null : JSON.stringify(final), id);
    this.touched(id);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Many rows at once: labels come from one query per 500 jobs instead of one per job. */
  private toRecords(rows: Row[]): JobRecord[] {
    const labels = new Map<number, Record<string, string>>();
    for (let i = 0; i < rows.length; i += 500) {
      const ids = rows.slice(i, i + 500).map((r) => r.id as number);
      const found = this.db
        .prepare(`SELECT job_id, key, value FROM job_labels WHERE job_id IN (${ids.map(() => '?').join(', ')})`)
        .all(...ids) as { job_id: number; key: string; value: string }[];
      for (const l of found) {
        const m = labels.get(l.job_id) ?? {};
        m[l.key] = l.value;
        labels.set(l.job_id, m);
      }
    }
    return rows.map((r) => this.toRecord(r, labels.get(r.id as number) ?? {}));
  }

  private toRecord(r: Row, preloaded?: Record<string, string>, spec?: JobSpec): JobRecord {
    let labels: Record<string, string> = {};
    if (preloaded) labels = preloaded;
    else for (const l of this.stmts.labels.all(r.id) as { key: string; value: string }[]) labels[l.key] = l.value;
    const state = r.state as JobState;
    const outcome = parseJson<Outcome>(r.outcome);
    return {
      id: r.id as number,
      owner: r.owner as string,
      cluster: r.cluster as string,
      clusterUser: (r.cluster_user as string | null | undefined) ?? null,
      name: r.name as string,
      spec: spec ?? (JSON.parse(r.spec as string) as JobSpec),
      labels,
      state,
      status: publicStatus(state),
      statusReason: (r.status_reason as string | null) ?? null,
      nativeId: (r.native_id as string | null) ?? null,
      nativeState: (r.native_state as string | null) ?? null,
      attempt: r.attempt as number,
      outcome,
      nativeFinal: parseJson<FinalInfo>(r.native_final),
      taskExitCodes: parseJson<(number | null)[]>(r.task_exit_codes),
      exitCode: (r.exit_code as number | null) ?? null,
      accounting: parseJson<Accounting>(r.accounting),
      cancelRequestedAt: (r.cancel_requested_at as number | null) ?? null,
      idempotencyKey: (r.idempotency_key as string | null) ?? null,
      workflowId: (r.workflow_id as number | null) ?? null,
      kind: (r.kind as 'job' | 'array' | undefined) ?? 'job',
      wfJob: (r.wf_job as string | null) ?? null,
      wfIndex: (r.wf_index as number | null) ?? null,
      wfParams: parseJson<Record<string, string>>(r.wf_params),
      wfCurrent: r.wf_current === undefined ? true : r.wf_current === 1,
      arrayJobId: (r.array_job_id as number | null) ?? null,
      arraySize: (r.array_size as number | null) ?? null,
      arrayParallel: (r.array_parallel as number | null) ?? null,
      afterOk: parseJson<string[]>(r.after_ok),
      createdAt: r.created_at as number,
      submittedAt: (r.submitted_at as number | null) ?? null,
      startedAt: (r.started_at as number | null) ?? null,
      endedAt: (r.ended_at as number | null) ?? null,
      updatedAt: r.updated_at as number,
      absentSince: (r.absent_since as number | null) ?? null,
      retryAt: (r.retry_at as number | null) ?? null,
      stepFailures: r.step_failures as number,
      lastError: (r.last_error as string | null) ?? null,
      eventPhase: (r.event_phase as EventPhase | null | undefined) ?? null,
      eventExit: (r.event_exit as number | null | undefined) ?? null,
      eventAt: (r.event_at as number | null | undefined) ?? null,
      accountingDue: (r.accounting_due as number | null | undefined) ?? null,
    };
  }
}

function patchSql(patch: JobPatch): { sets: string[]; values: unknown[] } {
  const sets: string[] = [];
  const values: unknown[] = [];
  for (const [key, value] of Object.entries(patch) as [keyof JobPatch, unknown][]) {
    if (value === undefined) continue;
    const spec = PATCH_COLUMNS[key];
    if (!spec) throw new BridgeError('INTERNAL', `unknown job field ${String(key)}`);
    sets.push(`${spec.col} = ?`);
    values.push(spec.json && value !== null ? JSON.stringify(value) : value);
  }
  return { sets, values };
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new BridgeError(
      'INTERNAL',
      `database schema version ${current} is newer than this hpc-bridge (knows ${MIGRATIONS.length}); refusing to downgrade`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
