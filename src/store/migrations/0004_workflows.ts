/**
 * Migration 4: workflows. A workflow row holds the validated definition; its jobs stay ordinary
 * rows of `jobs` (so every job endpoint, stage-out and log path works per instance) linked by
 * `workflow_id` plus the job's name in the workflow, its instance index and parameters.
 *
 * `kind = 'array'` marks a carrier: the one scheduler submission of a factory's instances on a
 * cluster that runs them as a native job array. It has the submit record (exactly-once is per
 * carrier), while each instance row (`array_job_id` -> carrier) follows the scheduler's
 * observations of its own element `<array id>_<index>`. Carriers never appear in job listings.
 *
 * `wf_current = 0` marks a row a rerun replaced; the replacement has the same name and index.
 * `after_ok` holds the native ids a job's script waits on (scheduler afterok), fixed at stage-in.
 */
export default `
  CREATE TABLE workflows (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    spec        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    reruns      INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX workflows_owner ON workflows(owner, id);

  ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'job';
  ALTER TABLE jobs ADD COLUMN wf_job TEXT;
  ALTER TABLE jobs ADD COLUMN wf_index INTEGER;
  ALTER TABLE jobs ADD COLUMN wf_params TEXT;
  ALTER TABLE jobs ADD COLUMN wf_current INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE jobs ADD COLUMN array_job_id INTEGER;
  ALTER TABLE jobs ADD COLUMN array_size INTEGER;
  ALTER TABLE jobs ADD COLUMN array_parallel INTEGER;
  ALTER TABLE jobs ADD COLUMN after_ok TEXT;
  CREATE INDEX jobs_workflow ON jobs(workflow_id, wf_job, wf_index) WHERE workflow_id IS NOT NULL;
  CREATE INDEX jobs_array ON jobs(array_job_id) WHERE array_job_id IS NOT NULL;
`;
