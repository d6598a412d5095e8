/**
 * Job credentials: what a running job presents to reach its owner's key-value store. Shaped
 * like an API token but with its own prefix, `hpcbj_<id>_<secret>`, so the API can tell at a
 * glance that it opens only the routes marked for jobs. Only SHA-256 of the whole string is
 * stored (store.kv, table kv_job_tokens) and comparison is constant-time, as for API tokens.
 *
 * A credential works while all of these hold: not revoked, before its `expires_at` (issued with
 * the daemon's bound), and `isLive(jobId)` (its job has not ended: the caller decides from the
 * job row, so a credential dies with its job without any clean-up having to run).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KvTables } from '../store/kv.js';

export const JOB_TOKEN_PREFIX = 'hpcbj_';
const JOB_TOKEN_RE = /^hpcbj_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;

export const isJobToken = (presented: string) => presented.startsWith(JOB_TOKEN_PREFIX);

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export interface JobCredential {
  user: string;
  jobId: number;
}

export class JobTokens {
  constructor(
    private readonly rows: KvTables,
    /** True while job `jobId` may still use its credential. */
    private readonly isLive: (jobId: number, now: number) => boolean,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A new credential for job `jobId` of `owner`, valid for `lifetimeMs` at most. Earlier ones
   * of the same job are revoked: a job holds one (a resubmission gets a fresh one).
   */
  issue(jobId: number, owner: string, lifetimeMs: number): string {
    const at = this.now();
    this.rows.revokeJobTokens(jobId, at);
    for (;;) {
      const id = randomBytes(4).toString('hex');
      const token = `${JOB_TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
      if (this.rows.insertToken({ id, jobId, owner, hash: sha256(token), createdAt: at, expiresAt: at + lifetimeMs })) return token;
    }
  }

  /** The owner and job behind a presented credential, or undefined when it does not (or no longer) work. */
  verify(presented: string): JobCredential | undefined {
    const m = JOB_TOKEN_RE.exec(presented);
    if (!m) return undefined;
    const row = this.rows.getToken(m[1]!);
    if (!row || row.revokedAt !== null) return undefined;
    const given = sha256(presented);
    if (row.hash.length !== given.length || !timingSafeEqual(row.hash, given)) return undefined;
    const now = this.now();
    if (now >= row.expiresAt || !this.isLive(row.jobId, now)) return undefined;
    return { user: row.owner, jobId: row.jobId };
  }

  /** Revoke a job's credentials (its end, or a new attempt). */
  revokeJob(jobId: number): number {
    return this.rows.revokeJobTokens(jobId, this.now());
  }
}
