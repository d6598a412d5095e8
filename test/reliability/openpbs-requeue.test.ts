/**
 * A running job requeued by the OpenPBS server, twice over: forced by its manager while the bridge
 * watches (`qrerun -W force`, ctl.sh pbs-rerun), and by a restart of every daemon while jobs run
 * (`ctl.sh pbs-restart`: MoM's SIGTERM kills the jobs it runs, and the server, once back,
 * requeues and reruns those that are rerunnable).
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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { clusterCtl, pbsRerun } from '../cluster/env.js';
import { labSettings, onLogin, until } from '../e2e/support/lab.js';
import { openpbs, PBS_BIN, pbsServerJobs } from '../e2e/support/openpbs.js';
import { checkDb, writeSummary } from './support.js';

// Each run appends "run N" to its own counter file's story; the sleep keeps it running across the restart.
const COUNTED = 'n=$(( $(cat runs 2>/dev/null || echo 0) + 1 )); echo "$n" > runs; echo "run $n"; sleep 20; echo "end of run $n"';

/**
 * The output of a job whose first run was killed and whose second ran to its end. MoM signals a
 * job's processes one at a time, children first, so the task's shell sometimes runs its next
 * command after its `sleep` died and before its own signal lands ("end of run 1", seen in some
 * runs, reproduced outside PBS with the same order of kills). Whatever the first run got in, the
 * second run's lines come last and once.
 */
const RERUN_OUTPUT = /^run 1\n(end of run 1\n)?run 2\nend of run 2\n$/;

/** run_count of each element of an array, from the server's history (one id: -F json is whole). */
async function elementRuns(env: ReturnType<typeof labSettings>['env'], arrayId: string): Promise<Map<string, number>> {
  const doc = JSON.parse(await onLogin(env, `${PBS_BIN}/qstat -x -t -f -F json '${arrayId}'`)) as { Jobs?: Record<string, Record<string, unknown>> };
  const runs = new Map<string, number>();
  for (const [id, j] of Object.entries(doc.Jobs ?? {})) if (/\[\d+\]/.test(id)) runs.set(id, Number(j['run_count'] ?? 0));
  return runs;
}

describe('OpenPBS requeues a running job', () => {
  const lab = labSettings(openpbs({ commandTimeoutSeconds: 30, lostGraceSeconds: 120 }));
  let bridge: Bridge;
  let restarting = false;

  beforeAll(() => {
    bridge = Bridge.open(lab.settings);
    bridge.start();
  });

  afterAll(async () => {
    if (restarting) await clusterCtl('pbs-server-start');
    await bridge?.close();
    await onLogin(lab.env, `rm -rf '${lab.scratchRoot}'`).catch(() => undefined);
  });

  const out = async (id: number) => (await bridge.staging.readLog(id, 'alice', 'stdout')).data.toString();
  // Seen running by the bridge, and inside its first run by its own output.
  const inFirstRun = async (id: number) => bridge.get(id)!.state === 'running' && (await out(id)).includes('run 1\n');

  it('qrerun -W force of a running job while the bridge polls: the same submission runs again and the job ends with its second run', async () => {
    const b = bridge;
    const rec = b.reconciler('lab')!;
    const before = { ...rec.counters };
    const id = b.submit('alice', { tasks: [{ cmd: COUNTED }], resources: { cpus: 1, walltime: 10 } }).job.id;
    await until('the job in its first run', () => inFirstRun(id), 180_000);
    const nativeId = b.get(id)!.nativeId!;
    await pbsRerun(nativeId);

    const done = await b.wait(id, 240_000);
    expect([done.status, done.statusReason, done.attempt, done.nativeId]).toEqual(['completed', 'all tasks exited 0', 0, nativeId]);
    // The first run's kill left its own exit files behind; the end reported is the second run's.
    expect(await out(id)).toMatch(RERUN_OUTPUT);
    expect(rec.counters.jobsSubmitted - before.jobsSubmitted).toBe(1);
    expect(b.store.events(id).filter((e) => e.from === 'submitting' && e.to === 'queued')).toHaveLength(1);
    const server = (await pbsServerJobs(lab.env)).filter((s) => s.nativeId === nativeId);
    expect(server).toMatchObject([{ state: 'F', exitStatus: 0, runCount: 2 }]);
    console.log(`qrerun: events of job ${id}: ${b.store.events(id).map((e) => `${e.from}->${e.to} ${e.reason}`).join(' | ')}`);
  });

  it('requeued array elements run again under their one submission and end with their second run; a -r n job ends once', async () => {
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
    await until('every job in its first run', async () => (await Promise.all(all.map(inFirstRun))).every(Boolean), 180_000);

    // Every submission went out before the restart (in one or two submit programs, as the
    // engine batched them); none may follow it.
    const submitted = { jobs: rec.counters.jobsSubmitted, commands: rec.counters.submitCommands };
    restarting = true;
    await clusterCtl('pbs-restart', 180_000);
    restarting = false;

    const done = await Promise.all(all.map((id) => b.wait(id, 240_000)));
    const [el0, el1, one] = done as [typeof done[0], typeof done[0], typeof done[0]];

    // The elements: completed by their second run, whose end the bridge reports.
    for (const j of [el0, el1]) {
      expect([j.id, j.status, j.statusReason]).toEqual([j.id, 'completed', 'all tasks exited 0']);
      expect(j.attempt).toBe(0);
      expect(await out(j.id)).toMatch(RERUN_OUTPUT);
    }
    const arrayId = el0.nativeId!.replace(/\[\d+\]/, '[]');
    const runs = await elementRuns(lab.env, arrayId);
    expect([...runs.values()]).toEqual([2, 2]);

    // ONE submission for the array and one for the single job: the rerun is the server's, not a new qsub.
    expect(rec.counters.jobsSubmitted - before.jobsSubmitted).toBe(2);
    expect(submitted.jobs - before.jobsSubmitted).toBe(2);
    expect(rec.counters.submitCommands).toBe(submitted.commands);
    for (const id of all) expect(b.store.events(id).filter((e) => e.to === 'queued' && e.from === 'submitting')).toHaveLength(1);

    // The -r n job: ended by the restart, reported once, never run again.
    // The server ends it with Exit_status -4 (JOB_EXEC_INITABT: aborted while MoM initialised).
    expect([one.status, one.statusReason]).toEqual(['failed', 'node failure']);
    // Its first run only (its shell may have got its last line in, as above), never a second.
    expect(await out(single)).toMatch(/^run 1\n(end of run 1\n)?$/);
    const server = (await pbsServerJobs(lab.env)).filter((s) => s.nativeId === one.nativeId || s.nativeId === arrayId);
    expect(server).toHaveLength(2);
    expect(server.find((s) => s.nativeId === one.nativeId)).toMatchObject({ state: 'F', exitStatus: -4, runCount: 1 });

    console.log(`requeue: single job ${one.status} (${one.statusReason}); element events: ${el0.id}: ${b.store.events(el0.id).map((e) => `${e.from}->${e.to} ${e.reason}`).join(' | ')}`);
    await b.close();
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
