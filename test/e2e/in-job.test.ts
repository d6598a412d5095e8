/**
 * Snapshots and exec in running jobs on the real Slurm test cluster, through the daemon's HTTP
 * API, with identities (alice runs as hpcuser, bob as hpcuser2): alice reads the intermediate
 * file of her long job and runs commands inside its allocation (a step beside the batch step,
 * as hpcuser), also in one element of a job array; paths that leave the job directory are
 * refused, including a link into bob's scratch; a command past its limit is cut off and its step
 * is gone; bob gets 404 for both, exactly as for a job that does not exist.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HpcBridgeError, Job, Task, Workflow, ParameterSweep } from '../../src/client/index.js';
import { call, startDaemon, type Daemon } from '../api/helpers.js';
import { labSettings, onLogin, onLoginAs, until, type Lab } from './support/lab.js';

let lab: Lab;
let d: Daemon;

beforeAll(async () => {
  lab = labSettings({ identities: true, pollIntervalSeconds: 1 });
  d = await startDaemon({ settings: lab.settings });
});
afterAll(async () => {
  // Whatever a failed case left running is cancelled on the cluster before the daemon goes.
  const active = d ? d.bridge.list({ scope: 'active' }) : [];
  for (const j of active) d.bridge.cancel(j.id);
  await Promise.all(active.map((j) => d.bridge.wait(j.id, 60_000)));
  await d?.close();
  const leaf = String(lab.cluster.scratchRoot).split('/').at(-1)!;
  await onLogin(lab.env, `rm -rf ${lab.env.scratchRoot}/${leaf}`).catch(() => undefined);
  await onLoginAs(lab.env, lab.env.user2, `rm -rf ${lab.env.user2.scratchRoot}/${leaf}`);
});

/** Poll until the job runs and has written `file` (a snapshot that answers is the test). */
async function runningWith(job: Job, file: string): Promise<void> {
  await until(
    `job ${job.id} running with ${file}`,
    async () => (await job.refresh()).status === 'running' && (await job.snapshot(file).then(() => true, () => false)),
    120_000,
    500,
  );
}

describe('snapshot and exec on a running Slurm job', () => {
  let job: Job;
  let bobDir: string;

  it("reads a running job's intermediate result, as it changes, as the job's account", async () => {
    // Bob's job directory exists (his own job): alice's job will point a link at it.
    const bobJob = await new Job({ name: 'bob-quick', tasks: [new Task('echo bob > mine.txt')], outputFiles: ['mine.txt'] }, d.bob).create();
    expect((await bobJob.wait({ timeout: 120 })).status).toBe('completed');
    bobDir = `${d.bridge.reconciler('lab')!.rt.forAccount!(lab.env.user2.user).scratchRoot}/jobs/${d.bridge.store.instanceId()}-${bobJob.id}`;

    const cmd = [
      'for i in 1 2 3; do printf "iteration %s loss %s\\n" "$i" "0.$((10 - i))" >> progress.txt; done',
      'ln -s /etc/hostname escape.txt',
      `ln -s ${bobDir}/mine.txt bob.txt`,
      'while [ ! -f go ]; do sleep 0.5; done',
      'echo finished >> progress.txt',
    ].join('\n');
    job = await new Job({ name: 'long-sim', tasks: [new Task(cmd)], resources: { cpus: 1, memory: 0.2, walltime: 10 } }, d.alice).create();
    await runningWith(job, 'progress.txt');
    expect(await job.snapshotText('progress.txt')).toBe('iteration 1 loss 0.9\niteration 2 loss 0.8\niteration 3 loss 0.7\n');
  });

  it('runs a command inside the allocation, as the job account, in the job directory, with its exit status', async () => {
    const info = await job.refresh();
    const r = await job.exec(['bash', '-c', 'echo "$(id -un) $SLURM_JOB_ID ${SLURM_STEP_ID:-none} $(basename "$PWD")"; tail -n 1 progress.txt; echo oops >&2; exit 7'], { timeoutSeconds: 30 });
    expect(r).toMatchObject({ exitCode: 7, timedOut: false, stderr: 'oops\n', truncated: false });
    const [who, slurmJob, step, dir] = r.stdout.split('\n')[0]!.split(' ');
    expect([who, slurmJob, dir]).toEqual([lab.env.user, info.nativeId, `${d.bridge.store.instanceId()}-${job.id}`]);
    expect(step).toMatch(/^\d+$/); // a step of its own beside the batch step
    expect(r.stdout.split('\n')[1]).toBe('iteration 3 loss 0.7');
    // What exec writes, a snapshot reads.
    expect((await job.exec(['bash', '-c', 'echo "from exec" > note.txt'])).exitCode).toBe(0);
    expect(await job.snapshotText('note.txt')).toBe('from exec\n');
  });

  it('cuts off a command at its time limit and the step is gone', async () => {
    const nativeId = (await job.refresh()).nativeId!;
    const r = await job.exec(['bash', '-c', 'echo begun; sleep 120'], { timeoutSeconds: 2 });
    expect(r).toMatchObject({ timedOut: true, exitCode: null, stdout: 'begun\n', timeoutSeconds: 2 });
    const steps = await until(
      'the cut-off step to leave the queue',
      async () => {
        const list = (await onLogin(lab.env, `squeue -h -s -j ${nativeId} -o %i`)).trim().split('\n');
        return list.every((s) => /\.(batch|extern)$/.test(s)) ? list : undefined;
      },
      60_000,
      500,
    );
    expect(steps).toContain(`${nativeId}.batch`);
    expect((await job.refresh()).status).toBe('running');
  });

  it('refuses paths that leave the job directory', async () => {
    const cases: [string, number, RegExp][] = [
      ['/etc/hostname', 400, /is absolute/],
      ['../', 400, /contains "\.\."/],
      [`../${d.bridge.store.instanceId()}-1/progress.txt`, 400, /contains "\.\."/],
      ['escape.txt', 400, /resolves outside the job directory/],
      ['bob.txt', 404, /has no file "bob.txt"/],
    ];
    for (const [path, status, message] of cases) {
      const r = await call(d, 'GET', `/jobs/${job.id}/snapshot?path=${encodeURIComponent(path)}`);
      expect([path, r.status], r.text).toEqual([path, status]);
      expect(r.json.error.message, path).toMatch(message);
    }
  });

  it("another user's job is 404 for both, as an unknown job is", async () => {
    for (const [method, suffix, body] of [['GET', '/snapshot?path=progress.txt', undefined], ['POST', '/exec', { argv: ['id'] }]] as const) {
      const theirs = await call(d, method, `/jobs/${job.id}${suffix}`, { token: d.tokens.bob, ...(body ? { body } : {}) });
      const none = await call(d, method, `/jobs/987654${suffix}`, { token: d.tokens.bob, ...(body ? { body } : {}) });
      expect([theirs.status, theirs.json.error.code]).toEqual([404, 'NOT_FOUND']);
      expect(theirs.json.error.message).toBe(`job ${job.id} not found`);
      expect(none.json.error.message).toBe('job 987654 not found');
    }
    await expect(d.bob.execInJob(job.id!, ['touch', 'go'])).rejects.toBeInstanceOf(HpcBridgeError);
    expect(await job.snapshotText('progress.txt')).not.toContain('finished');
  });

  it('ends normally afterwards; a snapshot of an ended job is refused (409)', async () => {
    await job.exec(['touch', 'go']);
    const done = await job.wait({ timeout: 120 });
    expect(done.status, done.statusReason ?? '').toBe('completed');
    const r = await call(d, 'GET', `/jobs/${job.id}/snapshot?path=progress.txt`);
    expect(r.status).toBe(409);
    expect(r.json.error.message).toMatch(/is completed, not running/);
  });

  it('reaches one element of a job array (a sweep instance) by its element id', async () => {
    const wjob = new Job({ name: 'point', tasks: [new Task('echo "x=$x" > value.txt; while [ ! -f go ]; do sleep 0.5; done')], resources: { cpus: 1, memory: 0.1, walltime: 10 } });
    const wf = await new Workflow({ name: 'in-job-array', jobs: [wjob], factories: [new ParameterSweep(wjob, [{ name: 'x', start: 1, end: 2, step: 1 }])] }, d.alice).create();
    const second = await wf.job('point', 1);
    await runningWith(second, 'value.txt');
    const nativeId = (await second.refresh()).nativeId!;
    expect(nativeId).toMatch(/^\d+_1$/);
    expect(await second.snapshotText('value.txt')).toBe('x=2\n');
    // The step runs in that element's allocation: Slurm gives it the element's own (raw) job id.
    const raw = (await onLogin(lab.env, `squeue -h -j ${nativeId} -o %A`)).trim();
    const r = await second.exec(['bash', '-c', 'echo "$SLURM_JOB_ID"; cat value.txt']);
    expect(r).toMatchObject({ exitCode: 0, stdout: `${raw}\nx=2\n` });
    const first = await wf.job('point', 0);
    await runningWith(first, 'value.txt');
    await first.exec(['touch', 'go']);
    await second.exec(['touch', 'go']);
    expect((await wf.wait({ timeout: 120 })).status).toBe('completed');
  });
});
