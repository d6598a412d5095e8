/**
 * Migration 2: the data half (src/staging/). Every table here is progress that must survive a
 * daemon restart: which artifact name holds which bytes, which bytes a cluster's cache already
 * has, which bytes each job resolved its artifacts to, and how far each job's stage-out got.
 */
export default `
  -- (owner, name) -> content. Blobs live at <dataDir>/artifacts/<owner>/blobs/<sha256>; a row
  -- is written only after its blob was renamed into place, so a row never points at a partial.
  CREATE TABLE artifacts (
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, name)
  );
  CREATE INDEX artifacts_sha ON artifacts(owner, sha256);

  -- The bytes a job's artifacts[idx] resolved to (an uploaded name, or a fetched URL), fixed at
  -- the first stage-in so a retried stage-in or a resubmission stages the same bytes.
  CREATE TABLE job_artifacts (
    job_id     INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    source     TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    resolved_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
  );
  CREATE INDEX job_artifacts_sha ON job_artifacts(sha256);

  -- A cluster's artifact cache holds these bytes, verified with sha256sum after the upload.
  CREATE TABLE cluster_artifacts (
    cluster     TEXT NOT NULL,
    cache_dir   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    verified_at INTEGER NOT NULL,
    PRIMARY KEY (cluster, cache_dir, sha256)
  );

  -- One row per job once its outputs were listed on the cluster; completed_at when every output
  -- is either stored or reported as a problem.
  CREATE TABLE job_stageout (
    job_id       INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    listed_at    INTEGER NOT NULL,
    completed_at INTEGER,
    problems     TEXT NOT NULL DEFAULT '[]'
  );

  -- Each output (file, packed directory, or a task's log) and how far its download got.
  -- state: pending (to download), done (stored under <dataDir>/outputs/<job>/<id>), skipped.
  CREATE TABLE job_outputs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    remote_path TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT,
    state       TEXT NOT NULL,
    reason      TEXT,
    UNIQUE (job_id, kind, name)
  );
  CREATE INDEX job_outputs_job ON job_outputs(job_id, id);
`;
