/**
 * The queries scheduled maintenance (src/ops/maintenance.ts) needs: which job directories and
 * stored outputs are past their retention, which artifact blobs something still refers to, the
 * bookkeeping of removed scratch directories (migration 5), and the online backup.
 *
 * Retention decisions are made by ops from what these return; every write here is one statement
 * or one transaction, so a crash between a write and the file removal that follows it leaves
 * at worst files to remove again, never a row promising bytes that are gone.
 */
import Database from 'better-sqlite3';
import { TERMINAL_STATES } from '../domain/state.js';

const TERMINAL_SQL = TERMINAL_STATES.map((s) => `'${s}'`).join(', ');

export interface WalCheckpoint {
  busy: number;
  log: number;
  checkpointed: number;
}

export class MaintenanceTables {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      scratchCandidates: db.prepare(
        `SELECT j.id, j.cluster, j.cluster_user AS clusterUser FROM jobs j LEFT JOIN ops_scratch_removed r ON r.job_id = j.id
         WHERE r.job_id IS NULL AND j.state IN (${TERMINAL_SQL}) AND j.ended_at IS NOT NULL AND j.ended_at < ?
         ORDER BY j.id`,
      ),
      terminal: db.prepare(`SELECT 1 FROM jobs WHERE id = ? AND state IN (${TERMINAL_SQL})`),
      markRemoved: db.prepare('INSERT OR IGNORE INTO ops_scratch_removed (job_id, removed_at) VALUES (?, ?)'),
      outputJobs: db.prepare(
        `SELECT DISTINCT j.id FROM jobs j JOIN job_outputs o ON o.job_id = j.id
         WHERE o.state = 'done' AND j.state IN (${TERMINAL_SQL}) AND j.ended_at IS NOT NULL AND j.ended_at < ?`,
      ),
      storedSizes: db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM job_outputs WHERE job_id = ? AND state = 'done'`),
      expire: db.prepare(`UPDATE job_outputs SET state = 'skipped', reason = ? WHERE job_id = ? AND state = 'done'`),
      keepsOutputs: db.prepare(`SELECT 1 FROM job_outputs WHERE job_id = ? AND state != 'skipped' LIMIT 1`),
      endedBefore: db.prepare(`SELECT 1 FROM jobs WHERE id = ? AND state IN (${TERMINAL_SQL}) AND ended_at < ?`),
      referenced: db.prepare(
        `SELECT owner, sha256 FROM artifacts
         UNION SELECT j.owner, ja.sha256 FROM job_artifacts ja JOIN jobs j ON j.id = ja.job_id WHERE j.state NOT IN (${TERMINAL_SQL})`,
      ),
    };
  }

  // ------------------------------------------------------------------ scratch

  /** Terminal jobs that ended before `cutoff` and whose scratch directory was not removed yet, by id. */
  scratchCandidates(cutoff: number): { id: number; cluster: string; clusterUser: string | null }[] {
    return this.stmts.scratchCandidates.all(cutoff) as { id: number; cluster: string; clusterUser: string | null }[];
  }

  /** Those of `ids` that are terminal now (read right before removing their directories). */
  stillTerminal(ids: readonly number[]): number[] {
    return ids.filter((id) => this.stmts.terminal.get(id) !== undefined);
  }

  /** Remember in one transaction that these jobs' directories are gone. */
  markScratchRemoved(ids: readonly number[], at: number): void {
    this.db.transaction(() => ids.forEach((id) => this.stmts.markRemoved.run(id, at)))();
  }

  // ------------------------------------------------------------------ stored outputs

  /** Terminal jobs that ended before `cutoff` and still have stored outputs. */
  outputJobsEndedBefore(cutoff: number): number[] {
    return (this.stmts.outputJobs.all(cutoff) as { id: number }[]).map((r) => r.id);
  }

  /**
   * Mark every stored output of a job as skipped with `reason` (the rows stay, so the user reads
   * why the bytes are gone), and say how many files and bytes that was.
   */
  expireOutputs(jobId: number, reason: string): { files: number; bytes: number } {
    return this.db.transaction(() => {
      const s = this.stmts.storedSizes.get(jobId) as { n: number; bytes: number };
      this.stmts.expire.run(reason, jobId);
      return { files: s.n, bytes: s.bytes };
    })();
  }

  /** An outputs folder can go: no row still refers to its files and its job ended before `cutoff`. */
  outputsRemovable(jobId: number, cutoff: number): boolean {
    return this.stmts.keepsOutputs.get(jobId) === undefined && this.stmts.endedBefore.get(jobId, cutoff) !== undefined;
  }

  // ------------------------------------------------------------------ artifact blobs

  /** Blobs an artifact name or a job that is not terminal refers to. */
  referencedBlobs(): { owner: string; sha256: string }[] {
    return this.stmts.referenced.all() as { owner: string; sha256: string }[];
  }

  // ------------------------------------------------------------------ backup

  /**
   * An online, consistent copy of the database at `file` (readers and writers keep going
   * meanwhile). The copy would inherit WAL mode; it is switched back to a rollback journal so it
   * is one self-contained file, copied or restored without -wal/-shm companions.
   */
  async backupTo(file: string): Promise<void> {
    await this.db.backup(file);
    const copy = new Database(file);
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
  }

  /** Move the WAL's pages into the main file and truncate the WAL to zero. */
  checkpoint(): WalCheckpoint {
    const [cp] = this.db.pragma('wal_checkpoint(TRUNCATE)') as WalCheckpoint[];
    return cp ?? { busy: -1, log: -1, checkpointed: -1 };
  }
}
