/**
 * Exactly once across daemon crashes, and truthfulness across an SSH outage, on the real
 * Slurm over the real sshd.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { countStates, killAll, killHard, startDaemon } from './support/daemons.js';
import { afterAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { clusterCtl } from '../cluster/env.js';
import { checkDb, duplicatesAndMissing, schedulerJobsByTag } from '../reliability/support.js';
import { labSettings, until } from './support/lab.js';

afterAll(killAll);

describe('crash safety on Slurm', () => {
  it('SIGKILL right after submitting 50 jobs, twice: exactly 50 scheduler jobs and every job completes', async () => {
    const lab = labSettings();
    const dbPath = join(lab.dataDir, 'hpc-bridge.db');
    // Small submit batches, so a kill lands between batches; the default grace for lost jobs.
    const cluster = { ...lab.cluster, submitBatchSize: 4, lostGraceSeconds: 120 };
    const configFile = join(lab.dataDir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ daemon: { dataDir: lab.dataDir, logLevel: 'warn' }, cluster }));

    // First life: killed as soon as the first jobs are with the scheduler.
    let d = startDaemon(configFile, 50, 'crash');
    await until('first submissions', () => (countStates(dbPath).queued ?? 0) + (countStates(dbPath).running ?? 0) + (countStates(dbPath).finishing ?? 0) >= 1, 120_000, 20);
    await killHard(d);
    const afterFirst = countStates(dbPath);

    // Second life: the same 50 definitions again (idempotency keys), killed mid-way.
    d = startDaemon(configFile, 50, 'crash');
    await until('more submissions', () => {
      const s = countStates(dbPath);
      return (s.accepted ?? 0) + (s.staging_in ?? 0) + (s.submitting ?? 0) < 40;
    }, 120_000, 20);
    await killHard(d);

    // Third life runs to the end.
    d = startDaemon(configFile, 50, 'crash');
    await until('all 50 terminal', () => (countStates(dbPath).completed ?? 0) + (countStates(dbPath).failed ?? 0) === 50, 240_000, 250);
    d.kill('SIGTERM');

    const states = countStates(dbPath);
    expect(states, `after first kill: ${JSON.stringify(afterFirst)}`).toEqual({ completed: 50 });

    const db = new Database(dbPath, { readonly: true });
    const instance = (db.prepare("SELECT value FROM meta WHERE key = 'instance'").get() as { value: string }).value;
    const jobs = db.prepare('SELECT id, native_id FROM jobs').all() as { id: number; native_id: string }[];
    db.close();
    expect(jobs).toHaveLength(50);
    // Every scheduler job in accounting that carries this database's tag, whatever its attempt:
    // a resubmission under a later attempt is a second run of the same bridge job, and counts.
    const sched = await until('accounting has all jobs', async () => {
      const found = await schedulerJobsByTag(lab.env, instance);
      return found.length >= 50 ? found : undefined;
    }, 60_000, 1000);
    const ids = new Set(jobs.map((j) => j.id));
    const { duplicates, missing } = duplicatesAndMissing([...ids], sched);
    const strangers = sched.filter((s) => !ids.has(s.jobId)).map((s) => s.tag);
    expect({ schedulerJobs: sched.length, duplicates, missing, strangers }, sched.map((s) => `${s.tag} ${s.nativeId}`).join(', ')).toEqual({ schedulerJobs: 50, duplicates: [], missing: [], strangers: [] });
    expect(new Set(sched.map((s) => s.nativeId)).size).toBe(50);
    expect(new Set(jobs.map((j) => j.native_id))).toEqual(new Set(sched.map((s) => s.nativeId)));
    // The database after the crashes: intact, and no job row contradicting its event log.
    expect(checkDb(dbPath)).toEqual({ integrity: 'ok', impossible: [] });
  });

  it('sshd stopped for 30 s mid-run: no state changes during the outage, convergence after', async () => {
    const lab = labSettings();
    const bridge = Bridge.open(lab.settings);
    bridge.start();
    try {
      const ids = [0, 1, 2].map((i) => bridge.submit('alice', { tasks: [{ cmd: `sleep 20; echo done-${i}` }] }).job.id);
      await until('all running', () => ids.every((id) => bridge.get(id)!.state === 'running'), 120_000);
      await clusterCtl('sshd-stop');
      const eventsAtStop = ids.map((id) => bridge.store.events(id).length);
      const statesAtStop = ids.map((id) => bridge.get(id)!.state);
      const outageEnd = Date.now() + 30_000;
      let sawDegraded = false;
      while (Date.now() < outageEnd) {
        await new Promise((r) => setTimeout(r, 1000));
        expect(ids.map((id) => bridge.store.events(id).length)).toEqual(eventsAtStop);
        expect(ids.map((id) => bridge.get(id)!.state)).toEqual(statesAtStop);
        if (bridge.health()[0]!.state === 'degraded') sawDegraded = true;
      }
      expect(sawDegraded).toBe(true);
      await clusterCtl('sshd-start');
      const done = await Promise.all(ids.map((id) => bridge.wait(id, 180_000)));
      expect(done.map((j) => j.status)).toEqual(['completed', 'completed', 'completed']);
      expect(bridge.health()[0]!.state).toBe('ok');
    } finally {
      await clusterCtl('sshd-start').catch(() => undefined);
      await bridge.close();
    }
  });
});
