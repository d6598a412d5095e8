/**
 * Exactly once across a daemon crash on the Torque wrappers (pbs adapter, flavor torque): a
 * smaller version of the 50-job SIGKILL test in slurm-crash.test.ts. 20 jobs, one SIGKILL as soon
 * as the first of them reached the scheduler, then a second life that runs them all to the end.
 *
 * The scheduler-side count is the harness looking at ground truth: the wrappers run on Slurm, so
 * sacct lists every job they ever submitted, by name. The adapter itself never uses sacct (a real
 * Torque has none); it only sees qsub's ids and qstat.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { countStates, killAll, killHard, startDaemon } from './support/daemons.js';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDb, duplicatesAndMissing, schedulerJobsByTag } from '../reliability/support.js';
import { labSettings, until } from './support/lab.js';

const JOBS = 20;
afterAll(killAll);

describe('crash safety on the Torque wrappers', () => {
  it(`SIGKILL right after the first of ${JOBS} jobs reached qsub: exactly ${JOBS} scheduler jobs and every job completes`, async () => {
    const lab = labSettings({ scheduler: 'pbs', flavor: 'torque' });
    const dbPath = join(lab.dataDir, 'hpc-bridge.db');
    const cluster = { ...lab.cluster, submitBatchSize: 4, lostGraceSeconds: 120 };
    const configFile = join(lab.dataDir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ daemon: { dataDir: lab.dataDir, logLevel: 'warn' }, cluster }));

    // First life: killed as soon as a job is with the scheduler.
    let d = startDaemon(configFile, JOBS, 'tcrash');
    await until('first submissions', () => {
      const s = countStates(dbPath);
      return (s.queued ?? 0) + (s.running ?? 0) + (s.finishing ?? 0) >= 1;
    }, 120_000, 20);
    await killHard(d);
    const afterKill = countStates(dbPath);

    // Second life: the same definitions again (idempotency keys), run to the end.
    d = startDaemon(configFile, JOBS, 'tcrash');
    await until(`all ${JOBS} terminal`, () => {
      const s = countStates(dbPath);
      return (s.completed ?? 0) + (s.failed ?? 0) + (s.killed ?? 0) + (s.deleted ?? 0) === JOBS;
    }, 240_000, 250);
    d.kill('SIGTERM');

    expect(countStates(dbPath), `after the kill: ${JSON.stringify(afterKill)}`).toEqual({ completed: JOBS });

    const db = new Database(dbPath, { readonly: true });
    const instance = (db.prepare("SELECT value FROM meta WHERE key = 'instance'").get() as { value: string }).value;
    const jobs = db.prepare('SELECT id, native_id FROM jobs').all() as { id: number; native_id: string }[];
    db.close();
    expect(jobs).toHaveLength(JOBS);
    // Every scheduler job in accounting that carries this database's tag, whatever its attempt:
    // a resubmission under a later attempt is a second run of the same bridge job, and counts.
    const sched = await until('accounting has all jobs', async () => {
      const found = await schedulerJobsByTag(lab.env, instance);
      return found.length >= JOBS ? found : undefined;
    }, 60_000, 1000);
    const ids = new Set(jobs.map((j) => j.id));
    const { duplicates, missing } = duplicatesAndMissing([...ids], sched);
    const strangers = sched.filter((s) => !ids.has(s.jobId)).map((s) => s.tag);
    expect({ schedulerJobs: sched.length, duplicates, missing, strangers }, sched.map((s) => `${s.tag} ${s.nativeId}`).join(', ')).toEqual({ schedulerJobs: JOBS, duplicates: [], missing: [], strangers: [] });
    expect(new Set(sched.map((s) => s.nativeId)).size).toBe(JOBS);
    expect(new Set(jobs.map((j) => j.native_id))).toEqual(new Set(sched.map((s) => s.nativeId)));
    // The database after the crashes: intact, and no job row contradicting its event log.
    expect(checkDb(dbPath)).toEqual({ integrity: 'ok', impossible: [] });
  });
});
