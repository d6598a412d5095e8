/**
 * Scheduler commands that hang, and a job the scheduler forgets, on the real Slurm over SSH.
 *
 * A hung command is made with a shim on the login node (support.ts `Shims`): the daemon's
 * commands get a PATH whose first directory holds stand-ins for squeue, sbatch and sacct that
 * sleep for an hour while a control file exists. The daemon's own command timeout (3 s here,
 * `commandTimeoutSeconds`) must kill them, change no job, say which command hung, and carry on
 * by itself once the command answers again.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import type { JobRecord } from '../../src/store/store.js';
import { labSettings, onLogin, until } from '../e2e/support/lab.js';
import { checkDb, dbInstance, duplicatesAndMissing, schedulerJobsByTag, shimmedTransport, Shims, sleep, writeSummary } from './support.js';

const COMMAND_TIMEOUT_S = 3;
const SUBMIT_TIMEOUT_S = 5;
const LOST_GRACE_S = 15;

describe('scheduler commands hanging past their timeout (Slurm over SSH)', () => {
  let lab: ReturnType<typeof labSettings>;
  let bridge: Bridge;
  let shims: Shims;
  const figures = { faultsInjected: 0, jobs: 0, duplicates: 0, unexpectedlyLost: 0, decidedLostOnPurpose: 0, hangSeconds: 0, pollTimeoutsObserved: 0, submitTimeoutsObserved: 0 };
  const cancelAtEnd: string[] = [];

  beforeAll(async () => {
    // The status poll is the path under test: with completion events on it runs only as the slow
    // safety net, and the jobs' own end records (test/e2e/slurm-events.test.ts) would finish them
    // while squeue hangs. Events off, every job's end waits for a poll, as it did before them.
    lab = labSettings({ lostGraceSeconds: LOST_GRACE_S, cluster: { commandTimeoutSeconds: COMMAND_TIMEOUT_S, submitTimeoutSeconds: SUBMIT_TIMEOUT_S, events: false } });
    shims = await Shims.install(lab.env, `${lab.scratchRoot}/shims`, ['squeue', 'sbatch', 'sacct']);
    bridge = Bridge.open(lab.settings, { transportFor: (c) => shimmedTransport(c, shims.dir) });
    bridge.start();
  });

  afterAll(async () => {
    await shims?.clearAll().catch(() => undefined);
    if (cancelAtEnd.length > 0) await onLogin(lab.env, `scancel ${cancelAtEnd.join(' ')}`).catch(() => undefined);
    if (bridge) {
      const lost = bridge.list({ owner: 'alice', scope: 'all' }).filter((j) => /^lost/.test(j.statusReason ?? '')).length;
      figures.unexpectedlyLost = lost - figures.decidedLostOnPurpose;
    }
    await bridge?.close();
    if (!lab) return;
    await onLogin(lab.env, `rm -rf '${lab.scratchRoot}'`).catch(() => undefined);
    const dbPath = join(lab.dataDir, 'hpc-bridge.db');
    const db = checkDb(dbPath);
    writeSummary('scheduler-hang', { ...figures, integrityCheck: db.integrity, impossibleStates: db.impossible.length });
    expect(db.integrity).toBe('ok');
    expect(db.impossible).toEqual([]);
    expect(figures.unexpectedlyLost).toBe(0);
  });

  const eventCount = (ids: number[]) => ids.map((id) => bridge.store.events(id).length);

  it('squeue hanging: polls are killed at the timeout, no job changes, the error names the command, recovery after', async () => {
    const ok = bridge.submit('alice', { tasks: [{ cmd: 'sleep 20; echo fine' }] }).job.id;
    const bad = bridge.submit('alice', { tasks: [{ cmd: 'sleep 20; exit 4' }] }).job.id;
    const ids = [ok, bad];
    figures.jobs += 2;
    await until('both running', () => ids.every((id) => bridge.get(id)!.state === 'running'), 120_000);

    const failuresBefore = bridge.reconciler('lab')!.counters.pollFailures;
    await shims.set('squeue', 'hang');
    figures.faultsInjected++;
    const hangStart = Date.now();
    const before = eventCount(ids);
    const statesBefore = ids.map((id) => bridge.get(id)!.state);
    try {
      // Hold the hang past the jobs' own end: they finish on the cluster, but while squeue cannot
      // answer the daemon must not guess that they did.
      await until('a poll killed at the timeout', () => bridge.reconciler('lab')!.counters.pollFailures - failuresBefore >= 1, 60_000);
      const health = bridge.health()[0]!;
      expect(health.state).toBe('degraded');
      expect(health.lastError).toMatch(new RegExp(`status poll: squeue did not finish within ${COMMAND_TIMEOUT_S * 1000} ms on ssh:`));
      while (Date.now() - hangStart < 25_000) {
        await sleep(1000);
        expect(eventCount(ids)).toEqual(before);
        expect(ids.map((id) => bridge.get(id)!.state)).toEqual(statesBefore);
      }
      figures.pollTimeoutsObserved += bridge.reconciler('lab')!.counters.pollFailures - failuresBefore;
    } finally {
      await shims.clear('squeue', 'hang');
    }
    figures.hangSeconds += Math.round((Date.now() - hangStart) / 1000);

    const [a, b] = await Promise.all(ids.map((id) => bridge.wait(id, 180_000)));
    expect(a!.status).toBe('completed');
    expect([b!.status, b!.exitCode]).toEqual(['failed', 4]);
    expect(bridge.health()[0]!.state).toBe('ok');
  });

  it('sbatch hanging: the submit is killed at its timeout, the job waits, and after recovery it runs exactly once', async () => {
    await shims.set('sbatch', 'hang');
    figures.faultsInjected++;
    const hangStart = Date.now();
    const rec = bridge.reconciler('lab')!;
    const submitsBefore = rec.counters.submitCommands;
    const id = bridge.submit('alice', { tasks: [{ cmd: 'echo once' }] }).job.id;
    figures.jobs++;
    const errors = new Set<string>();
    try {
      // The outcome of a killed submit is unknown: the job stays in `submitting` (its record on
      // the cluster decides the next try) and says why it waits. The cluster still answers its
      // polls, so it is not degraded by one command that hung.
      await until('three submit attempts killed at the timeout', () => {
        const e = bridge.get(id)!.lastError;
        if (e) errors.add(e);
        return rec.counters.submitCommands - submitsBefore >= 3 && [...errors].some((x) => /^submit: /.test(x));
      }, 120_000, 100);
      const stuck = bridge.get(id)!;
      expect(stuck.state).toBe('submitting');
      expect(stuck.nativeId).toBeNull();
      expect(bridge.store.events(id).map((e) => e.to)).not.toContain('queued');
      expect([...errors].find((x) => /^submit: /.test(x))).toMatch(new RegExp(`did not finish within ${SUBMIT_TIMEOUT_S * 1000} ms on ssh:`));
      figures.submitTimeoutsObserved += rec.counters.submitCommands - submitsBefore;
    } finally {
      await shims.clear('sbatch', 'hang');
    }
    figures.hangSeconds += Math.round((Date.now() - hangStart) / 1000);

    const done = await bridge.wait(id, 180_000);
    expect(done.status).toBe('completed');
    const sched = await until('accounting has the job', async () => {
      const s = (await schedulerJobsByTag(lab.env, dbInstance(join(lab.dataDir, 'hpc-bridge.db')))).filter((x) => x.jobId === id);
      return s.length > 0 ? s : undefined;
    }, 60_000, 1000);
    const { duplicates, missing } = duplicatesAndMissing([id], sched);
    figures.duplicates += duplicates.length;
    expect(sched.map((s) => s.nativeId)).toEqual([done.nativeId]);
    expect({ duplicates, missing }).toEqual({ duplicates: [], missing: [] });
  });

  it('a job that vanishes from the queue with no accounting and no exit file fails as "lost", only after the grace window', async () => {
    // lostGrace was only tested on the direct adapter (test/unit/engine-direct.test.ts); here
    // the scheduler forgets a running job: squeue stops listing it and sacct has no record,
    // while the job (still sleeping) has written no exit-code file.
    const id = bridge.submit('alice', { tasks: [{ cmd: 'sleep 120' }] }).job.id;
    figures.jobs++;
    const running = await until('running', () => {
      const j = bridge.get(id)!;
      return j.state === 'running' ? j : undefined;
    }, 120_000);
    cancelAtEnd.push(running.nativeId!);
    await shims.set('sacct', 'empty');
    await shims.set('squeue', 'hide', [running.nativeId!]);
    figures.faultsInjected++;

    let done: JobRecord;
    try {
      done = await bridge.wait(id, 120_000);
    } finally {
      await shims.clearAll();
    }
    figures.decidedLostOnPurpose++;
    expect(done.status).toBe('failed');
    expect(done.statusReason).toMatch(/^lost/);
    expect(done.exitCode).toBeNull();
    const events = bridge.store.events(id);
    const gone = events.find((e) => e.to === 'finishing')!;
    const decided = events.find((e) => e.from === 'finishing')!;
    expect(decided.to).toBe('staging_out');
    // The decision may not come before the grace window has passed since the job left the queue.
    expect(decided.at - gone.at).toBeGreaterThanOrEqual(LOST_GRACE_S * 1000);
  });
});
