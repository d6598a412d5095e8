/**
 * API bearer tokens, kept in the daemon's database. A token looks like
 * `hpcb_<id>_<secret>`: `id` (8 hex chars) is public and names the row, `secret` is 32 random
 * bytes (base64url). Only SHA-256 of the whole token is stored. Verification hashes what the
 * client sent and compares with `timingSafeEqual`, so neither the lookup nor the comparison
 * depends on the secret's bytes.
 *
 * The token string itself is returned exactly once (by `create`) and never logged.
 */
import type Database from 'better-sqlite3';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BridgeError } from '../domain/errors.js';

export const TOKEN_PREFIX = 'hpcb_';
const TOKEN_RE = /^hpcb_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;
/** Users are names in config and logs; keep them to what a Unix account name could be. */
export const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export interface TokenInfo {
  id: string;
  user: string;
  label: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

interface Row {
  id: string;
  user: string;
  hash: Buffer;
  label: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function info(r: Row): TokenInfo {
  return { id: r.id, user: r.user, label: r.label, createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at };
}

export class TokenStore {
  private readonly byId;
  private readonly touch;

  constructor(private readonly db: Database.Database, private readonly now: () => number = Date.now) {
    this.byId = db.prepare('SELECT * FROM api_tokens WHERE id = ?');
    this.touch = db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?');
  }

  /** Create a token for `user`; the returned `token` is the only copy that will ever exist. */
  create(user: string, label?: string): { token: string; info: TokenInfo } {
    if (!USER_RE.test(user)) {
      throw new BridgeError('INVALID_DEFINITION', `user name "${user}" must match ${USER_RE.source}`, { context: { field: 'user' } });
    }
    for (;;) {
      const id = randomBytes(4).toString('hex');
      if (this.byId.get(id)) continue; // 1 in 4 billion, but a collision must not overwrite
      const token = `${TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
      const now = this.now();
      this.db
        .prepare('INSERT INTO api_tokens (id, user, hash, label, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(id, user, sha256(token), label ?? null, now);
      return { token, info: info(this.byId.get(id) as Row) };
    }
  }

  list(user?: string): TokenInfo[] {
    const rows = (user === undefined
      ? this.db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all()
      : this.db.prepare('SELECT * FROM api_tokens WHERE user = ? ORDER BY created_at, id').all(user)) as Row[];
    return rows.map(info);
  }

  /** Revoke by id (or by the full token string); true if a live token was revoked. */
  revoke(idOrToken: string): boolean {
    const id = TOKEN_RE.exec(idOrToken)?.[1] ?? idOrToken;
    const res = this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(this.now(), id);
    return res.changes === 1;
  }

  /** The user a presented token belongs to, or undefined for anything malformed, unknown or revoked. */
  verify(presented: string): string | undefined {
    const m = TOKEN_RE.exec(presented);
    if (!m) return undefined;
    const row = this.byId.get(m[1]) as Row | undefined;
    if (!row || row.revoked_at !== null) return undefined;
    const given = sha256(presented);
    if (row.hash.length !== given.length || !timingSafeEqual(row.hash, given)) return undefined;
    this.touch.run(this.now(), row.id);
    return row.user;
  }
}
