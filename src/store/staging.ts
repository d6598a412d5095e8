/**
 * The staging tables (migration 2): artifact names, the bytes each job's artifacts resolved to,
 * what each cluster's cache holds, and how far each job's stage-out got. src/staging/ decides
 * what to move and moves it; this records the progress that must survive a restart.
 */
import type Database from 'better-sqlite3';
import { TERMINAL_STATES } from '../domain/state.js';

const TERMINAL_SQL = TERMINAL_STATES.map((s) => `'${s}'`).join(', ');

export interface ArtifactRecord {
  name: string;
  size: number;
  sha256: string;
  createdAt: number;
}

export type OutputKind = 'file' | 'directory' | 'log';

export interface OutputRecord {
  id: number;
  jobId: number;
  name: string;
  kind: OutputKind;
  remotePath: string;
  size: number;
  sha256: string | null;
  /** pending: to download; done: stored under <dataDir>/outputs/<job>/<id>; skipped: see reason. */
  state: 'pending' | 'done' | 'skipped';
  reason: string | null;
}

/** One output a stage-out listing found, as it is to be recorded. */
export interface PlannedOutput {
  name: string;
  kind: OutputKind;
  remotePath: string;
  size: number;
  /** Set when the output will not be collected (the per-job limit); the row is then 'skipped'. */
  skippedReason?: string;
}

export interface StageOutProblem {
  name: string;
  reason: string;
}

type Row = Record<string, unknown>;

const artifact = (r: Row): ArtifactRecord => ({ name: r.name as string, size: r.size as number, sha256: r.sha256 as string, createdAt: r.created_at as number });

const output = (r: Row): OutputRecord => ({
  id: r.id as number,
  jobId: r.job_id as number,
  name: r.name as string,
  kind: r.kind as OutputKind,
  remotePath: r.remote_path as string,
  size: r.size as number,
  sha256: (r.sha256 as string | null) ?? null,
  state: r.state as OutputRecord['state'],
  reason: (r.reason as string | null) ?? null,
});

export class StagingTables {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      putArtifact: db.prepare(
        `INSERT INTO artifacts (owner, name, sha256, size, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(owner, name) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, created_at = excluded.created_at`,
      ),
      listArtifacts: db.prepare('SELECT name, size, sha256, created_at FROM artifacts WHERE owner = ? ORDER BY name'),
      getArtifact: db.prepare('SELECT name, size, sha256, created_at FROM artifacts WHERE owner = ? AND name = ?'),
      deleteArtifact: db.prepare('DELETE FROM artifacts WHERE owner = ? AND name = ?'),
      named: db.prepare('SELECT 1 FROM artifacts WHERE owner = ? AND sha256 = ? LIMIT 1'),
      // A job id that no row has (0) stands for "no job excepted".
      usedByActive: db.prepare(
        `SELECT 1 FROM job_artifacts ja JOIN jobs j ON j.id = ja.job_id
         WHERE j.owner = ? AND ja.sha256 = ? AND ja.job_id != ? AND j.state NOT IN (${TERMINAL_SQL}) LIMIT 1`,
      ),
      resolved: db.prepare('SELECT sha256, size FROM job_artifacts WHERE job_id = ? AND idx = ?'),
      resolve: db.prepare('INSERT OR IGNORE INTO job_artifacts (job_id, idx, source, sha256, size, resolved_at) VALUES (?, ?, ?, ?, ?, ?)'),
      resolvedShas: db.prepare('SELECT DISTINCT sha256 FROM job_artifacts WHERE job_id = ?'),
      cached: db.prepare('SELECT 1 FROM cluster_artifacts WHERE cluster = ? AND cache_dir = ? AND sha256 = ?'),
      recordCached: db.prepare('INSERT OR REPLACE INTO cluster_artifacts (cluster, cache_dir, sha256, size, verified_at) VALUES (?, ?, ?, ?, ?)'),
      forgetCached: db.prepare('DELETE FROM cluster_artifacts WHERE cluster = ? AND cache_dir = ? AND sha256 = ?'),
      stageOut: db.prepare('SELECT completed_at, problems FROM job_stageout WHERE job_id = ?'),
      insertStageOut: db.prepare('INSERT INTO job_stageout (job_id, listed_at, problems) VALUES (?, ?, ?)'),
      completeStageOut: db.prepare('UPDATE job_stageout SET completed_at = ? WHERE job_id = ?'),
      insertOutput: db.prepare('INSERT OR IGNORE INTO job_outputs (job_id, name, kind, remote_path, size, state, reason) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      pending: db.prepare(`SELECT * FROM job_outputs WHERE job_id = ? AND state = 'pending' ORDER BY id`),
      skip: db.prepare(`UPDATE job_outputs SET state = 'skipped', reason = ? WHERE id = ?`),
      stored: db.prepare(`UPDATE job_outputs SET state = 'done', sha256 = ?, size = ? WHERE id = ?`),
      outputs: db.prepare(`SELECT * FROM job_outputs WHERE job_id = ? AND kind != 'log' ORDER BY id`),
      storedOutput: db.prepare(`SELECT * FROM job_outputs WHERE job_id = ? AND name = ? AND kind != 'log' AND state = 'done'`),
      storedLog: db.prepare(`SELECT * FROM job_outputs WHERE job_id = ? AND kind = 'log' AND name = ? AND state = 'done'`),
    };
  }

  // ------------------------------------------------------------------ artifact names

  /** Name these bytes (a new name, or a replacement of what the name held). */
  putArtifact(owner: string, a: ArtifactRecord): void {
    this.stmts.putArtifact.run(owner, a.name, a.sha256, a.size, a.createdAt);
  }

  listArtifacts(owner: string): ArtifactRecord[] {
    return (this.stmts.listArtifacts.all(owner) as Row[]).map(artifact);
  }

  getArtifact(owner: string, name: string): ArtifactRecord | undefined {
    const r = this.stmts.getArtifact.get(owner, name) as Row | undefined;
    return r ? artifact(r) : undefined;
  }

  /** True if the name existed. */
  deleteArtifact(owner: string, name: string): boolean {
    return this.stmts.deleteArtifact.run(owner, name).changes === 1;
  }

  /**
   * Whether an owner's blob is still referred to: by one of its artifact names, or by a job of
   * the owner that is not terminal and resolved an artifact to it (a retried stage-in or a
   * resubmission stages those bytes again). `exceptJob` leaves one job out (the one ending).
   */
  blobInUse(owner: string, sha256: string, exceptJob?: number): boolean {
    return this.stmts.named.get(owner, sha256) !== undefined || this.stmts.usedByActive.get(owner, sha256, exceptJob ?? 0) !== undefined;
  }

  // ------------------------------------------------------------------ a job's artifacts

  /** The bytes a job's artifacts[index] resolved to at its first stage-in, if it got that far. */
  resolvedArtifact(jobId: number, index: number): { sha256: string; size: number } | undefined {
    return this.stmts.resolved.get(jobId, index) as { sha256: string; size: number } | undefined;
  }

  /** Fix the bytes of a job's artifacts[index]; a second call for the same index keeps the first. */
  recordResolvedArtifact(jobId: number, index: number, r: { source: string; sha256: string; size: number; at: number }): void {
    this.stmts.resolve.run(jobId, index, r.source, r.sha256, r.size, r.at);
  }

  /** Every distinct blob a job's artifacts resolved to. */
  resolvedBlobs(jobId: number): string[] {
    return (this.stmts.resolvedShas.all(jobId) as { sha256: string }[]).map((r) => r.sha256);
  }

  // ------------------------------------------------------------------ cluster caches

  isCached(cluster: string, cacheDir: string, sha256: string): boolean {
    return this.stmts.cached.get(cluster, cacheDir, sha256) !== undefined;
  }

  recordCached(cluster: string, cacheDir: string, sha256: string, size: number, at: number): void {
    this.stmts.recordCached.run(cluster, cacheDir, sha256, size, at);
  }

  forgetCached(cluster: string, cacheDir: string, sha256: string): void {
    this.stmts.forgetCached.run(cluster, cacheDir, sha256);
  }

  // ------------------------------------------------------------------ stage-out

  /** How far a job's stage-out got: undefined until its outputs were listed. */
  stageOut(jobId: number): { completedAt: number | null; problems: StageOutProblem[] } | undefined {
    const r = this.stmts.stageOut.get(jobId) as { completed_at: number | null; problems: string } | undefined;
    return r ? { completedAt: r.completed_at, problems: JSON.parse(r.problems) as StageOutProblem[] } : undefined;
  }

  /**
   * Record a stage-out listing in one transaction: every output (pending, or skipped with its
   * reason) and the problems found. A crash leaves either the whole plan or none of it, so a
   * restarted stage-out lists again or downloads what is still pending, never half a plan.
   */
  recordOutputPlan(jobId: number, outputs: readonly PlannedOutput[], problems: readonly StageOutProblem[], at: number): void {
    this.db
      .transaction(() => {
        for (const o of outputs) {
          this.stmts.insertOutput.run(jobId, o.name, o.kind, o.remotePath, o.size, o.skippedReason === undefined ? 'pending' : 'skipped', o.skippedReason ?? null);
        }
        this.stmts.insertStageOut.run(jobId, at, JSON.stringify(problems));
      })
      .immediate();
  }

  pendingOutputs(jobId: number): OutputRecord[] {
    return (this.stmts.pending.all(jobId) as Row[]).map(output);
  }

  skipOutput(outputId: number, reason: string): void {
    this.stmts.skip.run(reason, outputId);
  }

  outputStored(outputId: number, sha256: string, size: number): void {
    this.stmts.stored.run(sha256, size, outputId);
  }

  completeStageOut(jobId: number, at: number): void {
    this.stmts.completeStageOut.run(at, jobId);
  }

  /** A job's outputs (logs left out), in listing order, whatever their state. */
  outputs(jobId: number): OutputRecord[] {
    return (this.stmts.outputs.all(jobId) as Row[]).map(output);
  }

  /** An output (not a log) whose bytes are stored. */
  storedOutput(jobId: number, name: string): OutputRecord | undefined {
    const r = this.stmts.storedOutput.get(jobId, name) as Row | undefined;
    return r ? output(r) : undefined;
  }

  /** A task log (`task.<n>.stdout|stderr`) whose bytes are stored. */
  storedLog(jobId: number, name: string): OutputRecord | undefined {
    const r = this.stmts.storedLog.get(jobId, name) as Row | undefined;
    return r ? output(r) : undefined;
  }
}
