/**
 * Helpers shared by the benchmark files: one table row shape, percentiles, running a command,
 * a daemon configuration for the test cluster, and inserting many jobs straight into a store
 * (setup for the rows that need 10,000 or 100,000 jobs, which would take far too long to
 * create through the API).
 */
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { parseJobSpec } from '../src/domain/jobSpec.js';
import type { Store } from '../src/store/store.js';
import type { BenchRow } from './transport.js';

export type { BenchRow };

export interface BenchOptions {
  /** Small sizes everywhere (development runs); the figures are then not comparable. */
  quick?: boolean;
  log?: (line: string) => void;
}

export function makeRow(name: string, value: number, unit: string, baseline: string, baselineValue: number, note: string): BenchRow {
  const r = (x: number): number => Math.round(x * 100) / 100;
  return { name, value: r(value), unit, baseline, baselineValue: r(baselineValue), ratio: baselineValue === 0 ? 0 : r(value / baselineValue), note };
}

export function pct(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Run a command; resolve its stdout on exit 0, reject with its stderr otherwise. */
export function sh(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', reject);
    // A command that exits before reading its (empty) stdin must not crash the run with EPIPE.
    p.stdin.on('error', () => {});
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err.trim()}`))));
    p.stdin.end(input ?? '');
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The spec of a trivial job, as the store holds it (parsed, defaults filled in). */
export function trivialSpecJson(queue?: string): string {
  return JSON.stringify(parseJobSpec({ tasks: [{ cmd: 'true' }], ...(queue ? { queue } : {}) }));
}

export interface InsertJobs {
  count: number;
  owner: string;
  cluster: string;
  state: 'queued' | 'completed';
  /** Scheduler id of job i (queued jobs). */
  nativeId?: (i: number) => string;
  /** Events per job, as a finished job's history has (accepted .. completed). */
  eventsPerJob?: number;
  queue?: string;
}

/**
 * A second connection to a store's database file, for the benchmark's own counting and bulk
 * set-up: the store keeps its connection to itself. The caller closes it.
 */
export function openDatabase(store: Store, opts: { readonly?: boolean } = {}): Database.Database {
  return new Database(store.file, { readonly: opts.readonly ?? false });
}

/** A function counting rows with `SELECT COUNT(*) AS n ...` on its own read-only connection. */
export function jobCounter(store: Store): { count: (sql: string) => number; close: () => void } {
  const db = openDatabase(store, { readonly: true });
  const stmts = new Map<string, Database.Statement>();
  return {
    count: (sql) => {
      let st = stmts.get(sql);
      if (!st) stmts.set(sql, (st = db.prepare(sql)));
      return (st.get() as { n: number }).n;
    },
    close: () => db.close(),
  };
}

/**
 * Insert jobs directly (one transaction per 10,000), in the shape the engine leaves them:
 * queued jobs with a native id and a submit time, or completed jobs with an exit code and a
 * full event history. Written through a second connection; the store sees the commits.
 */
export function insertJobs(store: Store, o: InsertJobs): void {
  const db = openDatabase(store);
  try {
    insertJobsInto(db, o);
  } finally {
    db.close();
  }
}

function insertJobsInto(db: Database.Database, o: InsertJobs): void {
  const spec = trivialSpecJson(o.queue);
  const now = Date.now();
  const job = db.prepare(
    `INSERT INTO jobs (owner, cluster, name, spec, state, status_reason, native_id, native_state, exit_code, created_at, submitted_at, started_at, ended_at, updated_at)
     VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const ev = db.prepare('INSERT INTO job_events (job_id, at, from_state, to_state, reason, detail) VALUES (?, ?, ?, ?, ?, ?)');
  const path = ['accepted', 'staging_in', 'submitting', 'queued', 'running', 'finishing', 'staging_out', 'completed'];
  const events = o.eventsPerJob ?? (o.state === 'completed' ? path.length : 4);
  const chunk = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const done = o.state === 'completed';
      const native = o.nativeId ? o.nativeId(i) : String(100000 + i);
      const info = job.run(o.owner, o.cluster, spec, o.state, done ? 'exit code 0' : 'waiting: PartitionDown', native, done ? 'COMPLETED' : 'PENDING', done ? 0 : null, now, now, done ? now : null, done ? now : null, now);
      const id = Number(info.lastInsertRowid);
      for (let e = 0; e < events; e++) {
        ev.run(id, now + e, e === 0 ? null : path[e - 1]!, path[e]!, e === 0 ? 'accepted' : `to ${path[e]}`, e === 3 ? JSON.stringify({ nativeId: native }) : null);
      }
    }
  });
  for (let i = 0; i < o.count; i += 10_000) chunk(i, Math.min(o.count, i + 10_000));
}

export interface ChildReport {
  rss: number;
  heapUsed?: number;
  cpuMs?: number;
  wallMs?: number;
  polls?: number;
  active?: number;
}

/** Run bench/daemon-child.ts in its own Node process and return what it reports. */
export async function runDaemonChild(args: { bare?: boolean; dataDir: string; dbPath?: string; cluster?: Record<string, unknown>; settleMs: number }): Promise<ChildReport> {
  const child = new URL('./daemon-child.ts', import.meta.url).pathname;
  const out = await sh(process.execPath, ['--expose-gc', '--import', 'tsx', child, JSON.stringify(args)]);
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as ChildReport;
}
