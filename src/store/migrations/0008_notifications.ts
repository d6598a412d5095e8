/**
 * Migration 8: the notification outbox. A row is written in the same transaction as the state
 * change it reports (a job's move to a terminal state, the last current job of a workflow
 * ending), so a crash can leave neither an ended job without its notification nor a
 * notification for a change that was rolled back. UNIQUE(event_key, idx) makes the enqueue
 * idempotent: one row per (event, entry of the definition's `notifications` list).
 *
 * `delivery_id` is random and travels in the body and a header, so a receiver can drop a
 * repeat when the daemon died between a POST and recording its answer. Secrets are not here:
 * the worker reads the webhook's secret from the job's or workflow's definition when it signs.
 * `status` goes pending -> delivered | failed and never back, so a recorded success is final.
 */
export default `
  CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id      TEXT NOT NULL UNIQUE,
    owner            TEXT NOT NULL,
    job_id           INTEGER REFERENCES jobs(id),
    workflow_id      INTEGER REFERENCES workflows(id),
    event            TEXT NOT NULL,
    event_key        TEXT NOT NULL,
    idx              INTEGER NOT NULL,
    type             TEXT NOT NULL,
    target           TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    last_error       TEXT,
    delivered_at     INTEGER,
    created_at       INTEGER NOT NULL,
    UNIQUE (event_key, idx)
  );
  CREATE INDEX notifications_due ON notifications(next_attempt_at) WHERE status = 'pending';
  CREATE INDEX notifications_job ON notifications(job_id) WHERE job_id IS NOT NULL;
  CREATE INDEX notifications_workflow ON notifications(workflow_id) WHERE workflow_id IS NOT NULL;
`;
