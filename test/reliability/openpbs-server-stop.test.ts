/**
 * pbs_server stopped for 60 s on the real OpenPBS of the test cluster (`qterm -t quick`: MoM keeps
 * running the jobs it has; the login node and sshd stay up, and every PBS client command fails to
 * connect). Jobs already running keep running; jobs submitted during the outage must wait and then
 * go through, once each; status polls fail without moving any job; everything converges after.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pbsJobName } from '../../adapters/pbs/ids.js';
import { Bridge } from '../../src/bridge.js';
import { isTerminal } from '../../src/domain/state.js';
import { clusterCtl } from '../cluster/env.js';
import { labSettings, onLogin, until } from '../e2e/support/lab.js';
import { openpbs, pbsServerJobs } from '../e2e/support/openpbs.js';
import { checkDb, dbInstance, sleep, writeSummary } from './support.js';

const OUTAGE_MS = 60_000;

describe('pbs_server stopped for 60 s', () => {
  const lab = labSettings(openpbs({ commandTimeoutSeconds: 30 }));
  let bridge: Bridge | undefined;
  let stopped = false;

  afterAll(async () => {
    if (stopped) await clusterCtl('pbs-server-start');
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
    await clusterCtl('pbs-server-stop');
    stopped = true;
    const stopAt = Date.now();
    const eventsAtStop = running.map((id) => b.store.events(id).length);
    const statesAtStop = running.map((id) => b.get(id)!.state);

    const during = [0, 1, 2, 3, 4].map((i) => b.submit('alice', { tasks: [{ cmd: `echo during-${i}` }] }).job.id);
    let degradedSeen = false;
    let errorDuringOutage = '';
    try {
      while (Date.now() - stopAt < OUTAGE_MS) {
        await sleep(1000);
        // The running jobs end during the outage (25 s), but nobody can know until the server is back.
        expect(running.map((id) => b.store.events(id).length)).toEqual(eventsAtStop);
        expect(running.map((id) => b.get(id)!.state)).toEqual(statesAtStop);
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
      await clusterCtl('pbs-server-start');
      stopped = false;
    }
    const outageSeconds = Math.round((Date.now() - stopAt) / 1000);
    const failedPolls = rec.counters.pollFailures - pollFailuresBefore;
    expect(degradedSeen).toBe(true);
    expect(failedPolls).toBeGreaterThan(0);
    // The cause is named: the PBS client's own "cannot connect to server".
    expect(errorDuringOutage).toMatch(/connect to server|pbs_server|Connection refused/i);

    const all = [...running, ...during];
    const done = await Promise.all(all.map((id) => b.wait(id, 240_000)));
    expect(done.map((j) => [j.id, j.status, j.statusReason])).toEqual(all.map((id) => [id, 'completed', 'all tasks exited 0']));
    expect(b.health()[0]!.state).toBe('ok');

    // The server's view: one job per bridge job, each run once.
    const dbPath = join(lab.dataDir, 'hpc-bridge.db');
    const instance = dbInstance(dbPath);
    const names = new Map(all.map((id) => [pbsJobName(`hb${instance}-${id}-0`, 'pbspro'), id]));
    const server = (await pbsServerJobs(lab.env)).filter((s) => names.has(s.name));
    expect(server.map((s) => s.name).sort()).toEqual([...names.keys()].sort());
    expect(server.every((s) => s.state === 'F' && s.exitStatus === 0 && s.runCount === 1)).toBe(true);
    expect(new Set(server.map((s) => s.nativeId))).toEqual(new Set(done.map((j) => j.nativeId)));

    await b.close();
    bridge = undefined;
    const db = checkDb(dbPath);
    writeSummary('openpbs-server-stop', {
      faultsInjected: 1,
      outageSeconds,
      failedPolls,
      jobs: all.length,
      submittedDuringOutage: during.length,
      lost: done.filter((j) => /^lost/.test(j.statusReason ?? '')).length,
      integrityCheck: db.integrity,
      impossibleStates: db.impossible.length,
    });
    expect(db.integrity).toBe('ok');
    expect(db.impossible).toEqual([]);
  });
});
