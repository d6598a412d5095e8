/**
 * API bearer tokens, kept in the daemon's database. A token looks like
 * `hpcb_<id>_<secret>`: `id` (8 hex chars) is public and names the row, `secret` is 32 random
 * bytes (base64url). Only SHA-256 of the whole token is stored. Verification hashes what the
 * client sent and compares with `timingSafeEqual`, so neither the lookup nor the comparison
 * depends on the secret's bytes.
 *
 * The token string itself is returned exactly once (by `create`) and never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BridgeError } from '../domain/errors.js';
import type { TokenRow, TokenTable } from '../store/tokens.js';

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

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function info(r: TokenRow): TokenInfo {
  return { id: r.id, user: r.user, label: r.label, createdAt: r.createdAt, lastUsedAt: r.lastUsedAt, revokedAt: r.revokedAt };
}

/**
 * "Last used" is for seeing which tokens are still in use (rotation), to the minute: writing it
 * on every request made each API call, reads included, a write transaction of its own.
 */
const LAST_USED_GRANULARITY_MS = 60_000;

export class TokenStore {
  /** `rows` is the store's token table (`store.tokens`). */
  constructor(private readonly rows: TokenTable, private readonly now: () => number = Date.now) {}

  /** Create a token for `user`; the returned `token` is the only copy that will ever exist. */
  create(user: string, label?: string): { token: string; info: TokenInfo } {
    if (!USER_RE.test(user)) {
      throw new BridgeError('INVALID_DEFINITION', `user name "${user}" must match ${USER_RE.source}`, { context: { field: 'user' } });
    }
    for (;;) {
      const id = randomBytes(4).toString('hex');
      const token = `${TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
      // 1 in 4 billion, but a collision must not overwrite: the table refuses and we draw again.
      if (!this.rows.insert({ id, user, hash: sha256(token), label: label ?? null, createdAt: this.now() })) continue;
      return { token, info: info(this.rows.get(id)!) };
    }
  }

  list(user?: string): TokenInfo[] {
    return this.rows.list(user).map(info);
  }

  /** Revoke by id (or by the full token string); true if a live token was revoked. */
  revoke(idOrToken: string): boolean {
    const id = TOKEN_RE.exec(idOrToken)?.[1] ?? idOrToken;
    return this.rows.revoke(id, this.now());
  }

  /** The user a presented token belongs to, or undefined for anything malformed, unknown or revoked. */
  verify(presented: string): string | undefined {
    const m = TOKEN_RE.exec(presented);
    if (!m) return undefined;
    const row = this.rows.get(m[1]!);
    if (!row || row.revokedAt !== null) return undefined;
    const given = sha256(presented);
    if (row.hash.length !== given.length || !timingSafeEqual(row.hash, given)) return undefined;
    const now = this.now();
    if (row.lastUsedAt === null || now - row.lastUsedAt >= LAST_USED_GRANULARITY_MS) this.rows.touch(row.id, now);
    return row.user;
  }
}
