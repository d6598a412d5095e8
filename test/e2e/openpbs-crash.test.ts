/**
 * Exactly once across a daemon crash on the real OpenPBS server: 20 jobs, one SIGKILL as soon as
 * the first of them reached qsub, then a second life that runs them all to the end. The
 * server-side count is the harness reading the server's own history (qselect -x + qstat -x -f
 * -F json, parsed with JSON.parse, not with the adapter's parser): one server job per bridge job,
 * each run once.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { pbsJobName } from '../../adapters/pbs/ids.js';
import { countStates, killAll, killHard, startDaemon } from './support/daemons.js';
import { labSettings, until } from './support/lab.js';
import { OPENPBS, pbsServerJobs } from './support/openpbs.js';

const JOBS = 20;
afterAll(killAll);

describe('crash safety on OpenPBS', () => {
  it(`SIGKILL right after the first of ${JOBS} jobs reached qsub: exactly ${JOBS} server jobs, each run once, and every job completes`, async () => {
    const lab = labSettings(OPENPBS);
    const dbPath = join(lab.dataDir, 'hpc-bridge.db');
    const cluster = { ...lab.cluster, submitBatchSize: 4, lostGraceSeconds: 120 };
    const configFile = join(lab.dataDir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ daemon: { dataDir: lab.dataDir, logLevel: 'warn' }, cluster }));

    let d = startDaemon(configFile, JOBS, 'pcrash');
    await until('first submissions', () => {
      const s = countStates(dbPath);
      return (s.queued ?? 0) + (s.running ?? 0) + (s.finishing ?? 0) >= 1;
    }, 120_000, 20);
    await killHard(d);
    const afterKill = countStates(dbPath);

    d = startDaemon(configFile, JOBS, 'pcrash');
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
    const names = new Set(jobs.map((j) => pbsJobName(`hb${instance}-${j.id}-0`, 'pbspro')));
    const server = (await pbsServerJobs(lab.env)).filter((s) => names.has(s.name));
    const perName = new Map<string, number>();
    for (const s of server) perName.set(s.name, (perName.get(s.name) ?? 0) + 1);
    expect(server).toHaveLength(JOBS);
    expect([...perName.values()].every((n) => n === 1)).toBe(true);
    expect(server.every((s) => s.state === 'F' && s.exitStatus === 0 && s.runCount === 1)).toBe(true);
    expect(new Set(jobs.map((j) => j.native_id))).toEqual(new Set(server.map((s) => s.nativeId)));
  });
});
