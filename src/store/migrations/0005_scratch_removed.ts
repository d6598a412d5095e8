/**
 * Migration 5: which job directories maintenance has already removed from cluster scratch.
 *
 * This is the daemon's own bookkeeping, not job state, so it is a table of its own rather than a
 * column of `jobs`; without it a removed directory would be listed in every later `rm` batch and
 * the batch would grow forever. Daemons before this migration created the table themselves at
 * start-up, hence IF NOT EXISTS: their databases already hold it, with the same shape.
 */
export default `
  CREATE TABLE IF NOT EXISTS ops_scratch_removed (
    job_id     INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    removed_at INTEGER NOT NULL
  );
`;
