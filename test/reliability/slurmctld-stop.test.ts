/**
 * slurmctld stopped for 60 s (the login node and sshd stay up: every Slurm client command fails
 * with "Unable to contact slurm controller"). Jobs already running keep running on the node;
 * jobs submitted during the outage must wait and then go through, once each; status polls fail
 * without moving any job.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { isTerminal } from '../../src/domain/state.js';
import { clusterCtl } from '../cluster/env.js';
import { labSettings, onLogin, until } from '../e2e/support/lab.js';
import { checkDb, dbInstance, duplicatesAndMissing, schedulerJobsByTag, sleep, writeSummary } from './support.js';

const OUTAGE_MS = 60_000;

describe('slurmctld stopped for 60 s', () => {
  const lab = labSettings({ cluster: { commandTimeoutSeconds: 30 } });
  let bridge: Bridge | undefined;
  let stopped = false;

  afterAll(async () => {
    if (stopped) await clusterCtl('slurmctld-start');
    await bridge?.close();
    await onLogin(lab.env, `rm -rf '${lab.scratchRoot}'`).catch(() => undefined);
  });

  it('polls fail without state changes, submissions wait and go through once each, everything completes', async () => {
    bridge = Bridge.open(lab.settings);
    bridge.start();
    const b = bridge;
    const running = [0, 1, 2].map((i) => b.submit('alice', { tasks: [{ cmd: `sleep 25; echo before-${i}` }] }).job.id);
    await until('jobs running', () => running.every((id) => b.get(id)!.state === 'running'), 120_000);

    const rec = b.reconciler('lab')!;
    const pollFailuresBefore = rec.counters.pollFailures;
    await clusterCtl('slurmctld-stop');
    stopped = true;
    const stopAt = Date.now();
    const eventsAtStop = running.map((id) => b.store.events(id).length);
    const statesAtStop = running.map((id) => b.get(id)!.state);

    // Submissions made while the controller is down.
    const during = [0, 1, 2, 3, 4].map((i) => b.submit('alice', { tasks: [{ cmd: `echo during-${i}` }] }).job.id);
    let degradedSeen = false;
    let errorDuringOutage = '';
    try {
      while (Date.now() - stopAt < OUTAGE_MS) {
        await sleep(1000);
        expect(running.map((id) => b.store.events(id).length)).toEqual(eventsAtStop);
        expect(running.map((id) => b.get(id)!.state)).toEqual(statesAtStop);
        // A submission cannot have reached a controller that is not there, and must not give up.
        for (const id of during) {
          const j = b.get(id)!;
          expect(j.nativeId, `job ${id}`).toBeNull();
          expect(isTerminal(j.state), `job ${id} is ${j.state}: ${j.statusReason ?? ''}`).toBe(false);
        }
        const h = b.health()[0]!;
        if (h.state === 'degraded') {
          degradedSeen = true;
          errorDuringOutage = h.lastError ?? '';
        }
      }
    } finally {
      await clusterCtl('slurmctld-start');
      stopped = false;
    }
    const outageSeconds = Math.round((Date.now() - stopAt) / 1000);
    const failedPolls = rec.counters.pollFailures - pollFailuresBefore;
    expect(degradedSeen).toBe(true);
    expect(failedPolls).toBeGreaterThan(0);
    // The cause is named: squeue's own "Unable to contact slurm controller".
    expect(errorDuringOutage).toMatch(/slurm controller|slurmctld/i);

    const all = [...running, ...during];
    const done = await Promise.all(all.map((id) => b.wait(id, 240_000)));
    expect(done.map((j) => j.status)).toEqual(all.map(() => 'completed'));
    expect(b.health()[0]!.state).toBe('ok');

    const dbPath = join(lab.dataDir, 'hpc-bridge.db');
    const sched = await until('accounting has every job', async () => {
      const s = await schedulerJobsByTag(lab.env, dbInstance(dbPath));
      return new Set(s.map((x) => x.jobId)).size >= all.length ? s : undefined;
    }, 60_000, 1000);
    const { duplicates, missing } = duplicatesAndMissing(all, sched);
    expect({ duplicates, missing }).toEqual({ duplicates: [], missing: [] });
    expect(new Set(sched.map((s) => s.nativeId))).toEqual(new Set(done.map((j) => j.nativeId)));

    await b.close();
    bridge = undefined;
    const db = checkDb(dbPath);
    writeSummary('slurmctld-stop', {
      faultsInjected: 1,
      outageSeconds,
      failedPolls,
      jobs: all.length,
      submittedDuringOutage: during.length,
      duplicates: duplicates.length,
      lost: done.filter((j) => /^lost/.test(j.statusReason ?? '')).length,
      integrityCheck: db.integrity,
      impossibleStates: db.impossible.length,
    });
    expect(db.integrity).toBe('ok');
    expect(db.impossible).toEqual([]);
  });
});
