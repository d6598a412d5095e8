/**
 * Rows of the key-value store and of the job credentials that reach it (migration 9). The
 * rules (key syntax, limits, who may do what) live in src/kv/; this only stores and finds rows.
 * Every statement on kv_entries names its owner: there is no query that crosses users.
 */
import type Database from 'better-sqlite3';

export interface KvEntry {
  key: string;
  value: Buffer;
  updatedAt: number;
}

export interface KvKeyInfo {
  key: string;
  size: number;
  updatedAt: number;
}

/** What a guarded write did. */
export type KvPutResult = 'created' | 'updated' | 'full' | 'mismatch';

export interface JobTokenRow {
  id: string;
  jobId: number;
  owner: string;
  hash: Buffer;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

interface RawToken {
  id: string;
  job_id: number;
  owner: string;
  hash: Buffer;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

/**
 * Keys are limited to characters below 0x7f (src/kv/keys.ts), so every key that starts with
 * `prefix` sorts between `prefix` and `prefix + DEL`: a range the primary key index answers.
 */
const upperBound = (prefix: string) => `${prefix}\x7f`;

export class KvTables {
  private readonly stmts;
  private readonly putTx: Database.Transaction<(owner: string, key: string, value: Buffer, at: number, maxKeys: number, prev: Buffer | undefined) => KvPutResult>;

  constructor(db: Database.Database) {
    this.stmts = {
      get: db.prepare('SELECT key, value, updated_at FROM kv_entries WHERE owner = ? AND key = ?'),
      count: db.prepare('SELECT COUNT(*) AS n FROM kv_entries WHERE owner = ?'),
      upsert: db.prepare(
        'INSERT INTO kv_entries (owner, key, value, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(owner, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      ),
      list: db.prepare(
        'SELECT key, length(value) AS size, updated_at FROM kv_entries WHERE owner = ? AND key >= ? AND key < ? AND key > ? ORDER BY key LIMIT ?',
      ),
      listValues: db.prepare('SELECT key, value, updated_at FROM kv_entries WHERE owner = ? AND key >= ? AND key < ? AND key > ? ORDER BY key LIMIT ?'),
      delete: db.prepare('DELETE FROM kv_entries WHERE owner = ? AND key = ?'),
      deletePrefix: db.prepare('DELETE FROM kv_entries WHERE owner = ? AND key >= ? AND key < ?'),
      tokenGet: db.prepare('SELECT * FROM kv_job_tokens WHERE id = ?'),
      tokenInsert: db.prepare(
        'INSERT INTO kv_job_tokens (id, job_id, owner, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING',
      ),
      tokenRevokeJob: db.prepare('UPDATE kv_job_tokens SET revoked_at = ? WHERE job_id = ? AND revoked_at IS NULL'),
      tokensOfJob: db.prepare('SELECT * FROM kv_job_tokens WHERE job_id = ? ORDER BY created_at, id'),
    };
    // One transaction: the count and the compare must see the same rows the write changes.
    this.putTx = db.transaction((owner: string, key: string, value: Buffer, at: number, maxKeys: number, prev: Buffer | undefined): KvPutResult => {
      const current = this.get(owner, key);
      if (prev !== undefined && (!current || !current.value.equals(prev))) return 'mismatch';
      if (!current && (this.stmts.count.get(owner) as { n: number }).n >= maxKeys) return 'full';
      this.stmts.upsert.run(owner, key, value, at);
      return current ? 'updated' : 'created';
    });
  }

  get(owner: string, key: string): KvEntry | undefined {
    const r = this.stmts.get.get(owner, key) as { key: string; value: Buffer; updated_at: number } | undefined;
    return r ? { key: r.key, value: r.value, updatedAt: r.updated_at } : undefined;
  }

  count(owner: string): number {
    return (this.stmts.count.get(owner) as { n: number }).n;
  }

  /**
   * Write `value` unless that would give `owner` more than `maxKeys` keys ('full'), or `prev`
   * is given and the current value is not exactly it ('mismatch'; a missing key never matches).
   */
  put(owner: string, key: string, value: Buffer, at: number, maxKeys: number, prev?: Buffer): KvPutResult {
    return this.putTx.immediate(owner, key, value, at, maxKeys, prev);
  }

  /** Keys starting with `prefix`, in byte order, after `after` (paging), at most `limit`. */
  list(owner: string, prefix: string, after: string, limit: number): KvKeyInfo[] {
    const rows = this.stmts.list.all(owner, prefix, upperBound(prefix), after, limit) as { key: string; size: number; updated_at: number }[];
    return rows.map((r) => ({ key: r.key, size: r.size, updatedAt: r.updated_at }));
  }

  /** As list, with the values. */
  listValues(owner: string, prefix: string, after: string, limit: number): KvEntry[] {
    const rows = this.stmts.listValues.all(owner, prefix, upperBound(prefix), after, limit) as { key: string; value: Buffer; updated_at: number }[];
    return rows.map((r) => ({ key: r.key, value: r.value, updatedAt: r.updated_at }));
  }

  /** True if the key existed. */
  delete(owner: string, key: string): boolean {
    return this.stmts.delete.run(owner, key).changes === 1;
  }

  /** How many keys starting with `prefix` were removed. */
  deletePrefix(owner: string, prefix: string): number {
    return this.stmts.deletePrefix.run(owner, prefix, upperBound(prefix)).changes;
  }

  // ---- job credentials

  getToken(id: string): JobTokenRow | undefined {
    const r = this.stmts.tokenGet.get(id) as RawToken | undefined;
    return r ? toToken(r) : undefined;
  }

  /** False if the id is taken (nothing is written then). */
  insertToken(row: Omit<JobTokenRow, 'revokedAt'>): boolean {
    return this.stmts.tokenInsert.run(row.id, row.jobId, row.owner, row.hash, row.createdAt, row.expiresAt).changes === 1;
  }

  /** Revoke every live credential of a job; how many were. */
  revokeJobTokens(jobId: number, at: number): number {
    return this.stmts.tokenRevokeJob.run(at, jobId).changes;
  }

  tokensOfJob(jobId: number): JobTokenRow[] {
    return (this.stmts.tokensOfJob.all(jobId) as RawToken[]).map(toToken);
  }
}

function toToken(r: RawToken): JobTokenRow {
  return { id: r.id, jobId: r.job_id, owner: r.owner, hash: r.hash, createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at };
}
