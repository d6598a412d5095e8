/**
 * Numbered schema migrations, applied in order at open and tracked with PRAGMA user_version.
 * One file per migration under migrations/; never edit one that has been released: add a new
 * one with the next number.
 */
import m0001 from './migrations/0001_jobs.js';
import m0002 from './migrations/0002_staging.js';
import m0003 from './migrations/0003_users.js';
import m0004 from './migrations/0004_workflows.js';
import m0005 from './migrations/0005_scratch_removed.js';
import m0006 from './migrations/0006_workflow_idempotency.js';
import m0007 from './migrations/0007_cluster_user.js';
import m0008 from './migrations/0008_notifications.js';
import m0009 from './migrations/0009_kv.js';
import m0010 from './migrations/0010_event_offsets.js';

export const MIGRATIONS: readonly string[] = [m0001, m0002, m0003, m0004, m0005, m0006, m0007, m0008, m0009, m0010];
