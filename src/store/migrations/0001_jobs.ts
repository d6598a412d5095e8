/** Migration 1: jobs, labels, the append-only event log, and daemon metadata. */
export default `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    owner               TEXT NOT NULL,
    cluster             TEXT NOT NULL,
    name                TEXT NOT NULL DEFAULT '',
    spec                TEXT NOT NULL,
    state               TEXT NOT NULL,
    status_reason       TEXT,
    native_id           TEXT,
    native_state        TEXT,
    attempt             INTEGER NOT NULL DEFAULT 0,
    outcome             TEXT,
    native_final        TEXT,
    task_exit_codes     TEXT,
    exit_code           INTEGER,
    accounting          TEXT,
    cancel_requested_at INTEGER,
    idempotency_key     TEXT,
    workflow_id         INTEGER,
    created_at          INTEGER NOT NULL,
    submitted_at        INTEGER,
    started_at          INTEGER,
    ended_at            INTEGER,
    updated_at          INTEGER NOT NULL,
    absent_since        INTEGER,
    retry_at            INTEGER,
    step_failures       INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT
  );
  CREATE UNIQUE INDEX jobs_idempotency ON jobs(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX jobs_active ON jobs(cluster, state) WHERE state NOT IN ('completed', 'failed', 'killed', 'deleted');
  CREATE INDEX jobs_owner ON jobs(owner, id);
  CREATE INDEX jobs_native ON jobs(cluster, native_id);

  CREATE TABLE job_labels (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
  );
  CREATE INDEX job_labels_kv ON job_labels(key, value);

  CREATE TABLE job_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT,
    detail     TEXT
  );
  CREATE INDEX job_events_job ON job_events(job_id, id);
  `;
