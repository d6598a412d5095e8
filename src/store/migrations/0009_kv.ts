/**
 * Migration 9: the per-user key-value store and the job credentials that reach it.
 *
 * `kv_entries` is keyed by (owner, key) and nothing else: every statement names the owner, so
 * one user's keys cannot be read or counted through another's. Values are bytes (BLOB): a job
 * may store anything, text or not.
 *
 * `kv_job_tokens` holds the short-lived credential a running job presents. Like api_tokens only
 * the SHA-256 of the whole token is kept; `id` is its public half. A row belongs to one job
 * and one owner, and stops working at `expires_at`, when revoked, or when its job ends.
 */
export default `
  CREATE TABLE kv_entries (
    owner      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
  ) WITHOUT ROWID;

  CREATE TABLE kv_job_tokens (
    id         TEXT PRIMARY KEY,
    job_id     INTEGER NOT NULL,
    owner      TEXT NOT NULL,
    hash       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE INDEX kv_job_tokens_job ON kv_job_tokens(job_id);
`;
