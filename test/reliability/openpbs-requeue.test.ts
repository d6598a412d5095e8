/**
 * A restart of every OpenPBS daemon while jobs run (`ctl.sh pbs-restart`: MoM's SIGTERM kills the
 * jobs it runs, and the server, once back, requeues and reruns those that are rerunnable).
 *
 * The bridge's array elements are rerunnable (OpenPBS refuses a non-rerunnable array), so the
 * server runs each of them a second time under the same submission. The bridge must follow that
 * one submission to its second run's end: no second qsub, no new attempt, and the job's end is
 * the end of the run that finished, never the first run's kill. A single job is `-r n`: the
 * restart ends it for good, and the bridge must say so without running it again.
 *
 * What actually ran is read from the server's own history (`run_count`) and from the job's own
 * output, in which every run appends a numbered line.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { clusterCtl } from '../cluster/env.js';
import { labSettings, onLogin, until } from '../e2e/support/lab.js';
import { openpbs, PBS_BIN, pbsServerJobs } from '../e2e/support/openpbs.js';
import { checkDb, writeSummary } from './support.js';

// Each run appends "run N" to its own counter file's story; the sleep keeps it running across the restart.
const COUNTED = 'n=$(( $(cat runs 2>/dev/null || echo 0) + 1 )); echo "$n" > runs; echo "run $n"; sleep 20; echo "end of run $n"';

/** run_count of each element of an array, from the server's history (one id: -F json is whole). */
async function elementRuns(env: ReturnType<typeof labSettings>['env'], arrayId: string): Promise<Map<string, number>> {
  const doc = JSON.parse(await onLogin(env, `${PBS_BIN}/qstat -x -t -f -F json '${arrayId}'`)) as { Jobs?: Record<string, Record<string, unknown>> };
  const runs = new Map<string, number>();
  for (const [id, j] of Object.entries(doc.Jobs ?? {})) if (/\[\d+\]/.test(id)) runs.set(id, Number(j['run_count'] ?? 0));
  return runs;
}

describe('OpenPBS restarted while jobs run', () => {
  const lab = labSettings(openpbs({ commandTimeoutSeconds: 30, lostGraceSeconds: 120 }));
  let bridge: Bridge | undefined;
  let restarting = false;

  afterAll(async () => {
    if (restarting) await clusterCtl('pbs-server-start');
    await bridge?.close();
    await onLogin(lab.env, `rm -rf '${lab.scratchRoot}'`).catch(() => undefined);
  });

  it('requeued array elements run again under their one submission and end with their second run; a -r n job ends once', async () => {
    bridge = Bridge.open(lab.settings);
    bridge.start();
    const b = bridge;
    const rec = b.reconciler('lab')!;
    const before = { ...rec.counters };
    const wf = b.submitWorkflow('alice', {
      name: 'requeue',
      jobs: [{ name: 'el', tasks: [{ cmd: COUNTED }], resources: { cpus: 1, memory: 0.1, walltime: 10 } }],
      factories: [{ type: 'parameterSweep', jobs: ['el'], parameters: [{ name: 'i', start: 1, end: 2, step: 1 }] }],
    });
    const single = b.submit('alice', { tasks: [{ cmd: COUNTED }], resources: { cpus: 1, walltime: 10 } }).job.id;
    const elements = wf.jobs.map((j) => j.id);
    const all = [...elements, single];
    // Seen running by the bridge, and inside its first run by its own output.
    const firstRun = async (id: number) => b.get(id)!.state === 'running' && (await b.staging.readLog(id, 'alice', 'stdout')).data.toString().includes('run 1\n');
    await until('every job running its first run', async () => (await Promise.all(all.map(firstRun))).every(Boolean), 180_000);

    restarting = true;
    await clusterCtl('pbs-restart', 180_000);
    restarting = false;

    const done = await Promise.all(all.map((id) => b.wait(id, 240_000)));
    const [el0, el1, one] = done as [typeof done[0], typeof done[0], typeof done[0]];
    const out = async (id: number) => (await b.staging.readLog(id, 'alice', 'stdout')).data.toString();

    // The elements: completed by their second run, whose end the bridge reports; the first run
    // was killed before its last line.
    for (const j of [el0, el1]) {
      expect([j.id, j.status, j.statusReason]).toEqual([j.id, 'completed', 'all tasks exited 0']);
      expect(j.attempt).toBe(0);
      expect(await out(j.id)).toBe('run 1\nrun 2\nend of run 2\n');
    }
    const arrayId = el0.nativeId!.replace(/\[\d+\]/, '[]');
    const runs = await elementRuns(lab.env, arrayId);
    expect([...runs.values()]).toEqual([2, 2]);

    // ONE submission for the array and one for the single job: the rerun is the server's, not a new qsub.
    expect(rec.counters.jobsSubmitted - before.jobsSubmitted).toBe(2);
    expect(rec.counters.submitCommands - before.submitCommands).toBe(2);
    for (const id of all) expect(b.store.events(id).filter((e) => e.to === 'queued' && e.from === 'submitting')).toHaveLength(1);

    // The -r n job: ended by the restart, reported once, never run again.
    // The server ends it with Exit_status -4 (JOB_EXEC_INITABT: aborted while MoM initialised).
    expect([one.status, one.statusReason]).toEqual(['failed', 'node failure']);
    expect(await out(single)).toBe('run 1\n');
    const server = (await pbsServerJobs(lab.env)).filter((s) => s.nativeId === one.nativeId || s.nativeId === arrayId);
    expect(server).toHaveLength(2);
    expect(server.find((s) => s.nativeId === one.nativeId)).toMatchObject({ state: 'F', exitStatus: -4, runCount: 1 });

    console.log(`requeue: single job ${one.status} (${one.statusReason}); element events: ${el0.id}: ${b.store.events(el0.id).map((e) => `${e.from}->${e.to} ${e.reason}`).join(' | ')}`);
    await b.close();
    bridge = undefined;
    const db = checkDb(join(lab.dataDir, 'hpc-bridge.db'));
    writeSummary('openpbs-requeue', {
      faultsInjected: 1,
      elementsRerun: [...runs.values()].filter((n) => n === 2).length,
      singleJob: `${one.status}: ${one.statusReason ?? ''}`,
      integrityCheck: db.integrity,
      impossibleStates: db.impossible.length,
    });
    expect(db.integrity).toBe('ok');
    expect(db.impossible).toEqual([]);
  });
});
