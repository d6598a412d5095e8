/**
 * Rows of the api_tokens table (migration 3). The token logic (format, hashing, constant-time
 * comparison) lives in src/auth/tokens.ts; this only stores and finds rows, so the secret's
 * bytes never appear in SQL.
 */
import type Database from 'better-sqlite3';

export interface TokenRow {
  id: string;
  user: string;
  /** SHA-256 of the whole token string. */
  hash: Buffer;
  label: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

interface Raw {
  id: string;
  user: string;
  hash: Buffer;
  label: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const toRow = (r: Raw): TokenRow => ({
  id: r.id,
  user: r.user,
  hash: r.hash,
  label: r.label,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

export class TokenTable {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      get: db.prepare('SELECT * FROM api_tokens WHERE id = ?'),
      // A colliding id must never overwrite a live token, so an insert that finds the id taken
      // does nothing and says so; the caller draws another id.
      insert: db.prepare('INSERT INTO api_tokens (id, user, hash, label, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING'),
      all: db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id'),
      ofUser: db.prepare('SELECT * FROM api_tokens WHERE user = ? ORDER BY created_at, id'),
      revoke: db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      touch: db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?'),
    };
  }

  get(id: string): TokenRow | undefined {
    const r = this.stmts.get.get(id) as Raw | undefined;
    return r ? toRow(r) : undefined;
  }

  /** False if a token with this id already exists (nothing is written then). */
  insert(row: { id: string; user: string; hash: Buffer; label: string | null; createdAt: number }): boolean {
    return this.stmts.insert.run(row.id, row.user, row.hash, row.label, row.createdAt).changes === 1;
  }

  /** Every token, or one user's, oldest first. */
  list(user?: string): TokenRow[] {
    const rows = (user === undefined ? this.stmts.all.all() : this.stmts.ofUser.all(user)) as Raw[];
    return rows.map(toRow);
  }

  /** True if a live token was revoked; revoking twice keeps the first time. */
  revoke(id: string, at: number): boolean {
    return this.stmts.revoke.run(at, id).changes === 1;
  }

  touch(id: string, at: number): void {
    this.stmts.touch.run(at, id);
  }
}
