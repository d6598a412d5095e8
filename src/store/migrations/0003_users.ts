/**
 * Migration 3: API tokens. A token is shown once at creation and only its SHA-256 is kept, so
 * a stolen database copy does not hand out working credentials. `id` is the public half of the
 * token (it is part of the token string), which lets verification find the row without
 * comparing secrets in SQL, and lets an operator list and revoke tokens by something printable.
 */
export default `
  CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user         TEXT NOT NULL,
    hash         BLOB NOT NULL,
    label        TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
  );
  CREATE INDEX api_tokens_user ON api_tokens(user);
`;
