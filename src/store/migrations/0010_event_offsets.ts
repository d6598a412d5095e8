/**
 * Migration 10: completion events. `event_offsets` holds, per (cluster, account), how far the
 * daemon has read that account's event log on the cluster (the file, its inode and the byte
 * offset just past the last record applied), so a follower that reconnects resumes there: no
 * record is lost and none is applied twice. The offset moves in the same transaction as the
 * job columns below, which keep what the records said until the engine acts on it (a record can
 * arrive before the submit that made the job has been recorded). `accounting_due`: a job decided
 * from its event before accounting had its record; accounting is read later, until this time.
 */
export default `
  CREATE TABLE event_offsets (
    cluster    TEXT NOT NULL,
    account    TEXT NOT NULL,
    log_path   TEXT NOT NULL,
    inode      TEXT,
    offset     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (cluster, account)
  );
  ALTER TABLE jobs ADD COLUMN event_phase TEXT;
  ALTER TABLE jobs ADD COLUMN event_exit INTEGER;
  ALTER TABLE jobs ADD COLUMN event_at INTEGER;
  ALTER TABLE jobs ADD COLUMN accounting_due INTEGER;
  CREATE INDEX jobs_accounting_due ON jobs (cluster, accounting_due) WHERE accounting_due IS NOT NULL;
`;
