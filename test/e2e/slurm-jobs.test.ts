/**
 * Jobs on the real Slurm over the real sshd, end to end through the Bridge: states, reasons,
 * exit codes, limits, cancel, policies. The tests share one bridge and run concurrently
 * (each waits for its own job); the `parked` partition is DOWN so jobs there stay queued.
 */
import { posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { jobDirFor } from '../../src/engine/reconciler.js';
import type { JobRecord } from '../../src/store/store.js';
import { labSettings, onLogin, until } from './support/lab.js';

let bridge: Bridge;
let env: ReturnType<typeof labSettings>['env'];

beforeAll(() => {
  const lab = labSettings();
  env = lab.env;
  bridge = Bridge.open(lab.settings);
  bridge.start();
});

afterAll(async () => {
  await bridge?.close();
});

async function run(def: unknown, timeoutMs = 180_000): Promise<JobRecord> {
  const { job } = bridge.submit('alice', def);
  const done = await bridge.wait(job.id, timeoutMs);
  expect(done.status, `job ${job.id} should be terminal (is ${done.state}: ${done.statusReason})`).toMatch(/completed|failed|killed|deleted/);
  return done;
}

async function readJobFile(job: JobRecord, rel: string): Promise<string> {
  const rec = bridge.reconciler('lab')!;
  const path = posix.join(jobDirFor(rec.rt, bridge.store.instanceId(), job.id), rel);
  const buf = await rec.rt.transport.readRange(path, 0, 1 << 20);
  return buf ? buf.toString('utf8') : '';
}

describe.concurrent('jobs on Slurm over SSH', () => {
  it('exit 0 -> completed, with two tasks run in order in one directory', async () => {
    const job = await run({
      name: 'two-tasks',
      tasks: [{ cmd: 'echo first > order.txt; echo hello-from-task-1' }, { cmd: 'echo second >> order.txt; cat order.txt' }],
    });
    expect(job.status).toBe('completed');
    expect(job.statusReason).toBe('all tasks exited 0');
    expect(job.taskExitCodes).toEqual([0, 0]);
    expect(job.exitCode).toBe(0);
    expect(job.nativeId).toMatch(/^\d+$/);
    expect(await readJobFile(job, '.hpcb/task.0.stdout')).toBe('hello-from-task-1\n');
    expect(await readJobFile(job, '.hpcb/task.1.stdout')).toBe('first\nsecond\n');
    const events = bridge.store.events(job.id).map((e) => e.to);
    expect(events[0]).toBe('accepted');
    expect(events).toContain('submitting');
    expect(events.at(-1)).toBe('completed');
    expect(job.accounting?.nodeList).toBeTruthy();
  });

  it('exit 3 -> failed with the code in the reason', async () => {
    const job = await run({ tasks: [{ cmd: 'echo about to fail >&2; exit 3' }] });
    expect(job.status).toBe('failed');
    expect(job.statusReason).toBe('task exited with code 3');
    expect(job.exitCode).toBe(3);
    expect(job.taskExitCodes).toEqual([3]);
    expect(await readJobFile(job, '.hpcb/task.0.stderr')).toBe('about to fail\n');
  });

  it('a failing middle task stops the job unless ignoreTaskFailures', async () => {
    const [stop, go] = await Promise.all([
      run({ tasks: [{ cmd: 'true' }, { cmd: 'exit 4' }, { cmd: 'touch reached' }] }),
      run({ tasks: [{ cmd: 'true' }, { cmd: 'exit 4' }, { cmd: 'touch reached' }], policies: { ignoreTaskFailures: true } }),
    ]);
    expect(stop.status).toBe('failed');
    expect(stop.statusReason).toBe('task 2 exited with code 4');
    expect(stop.taskExitCodes).toEqual([0, 4, null]);
    expect(go.taskExitCodes).toEqual([0, 4, 0]);
  });

  it('a walltime overrun -> killed', async () => {
    const job = await run({ tasks: [{ cmd: 'sleep 600' }], resources: { walltime: 1 } }, 240_000);
    expect(job.status).toBe('killed');
    expect(job.statusReason).toBe('walltime of 1 minute exceeded');
    expect(job.nativeFinal?.nativeState).toMatch(/TIMEOUT/);
  });

  it('over-memory -> killed with reason "memory limit exceeded"', async () => {
    const job = await run({
      tasks: [{ cmd: "python3 -c 'import time; b = bytearray(400 * 1024 * 1024); time.sleep(5)'" }],
      resources: { memory: 0.1 },
    });
    expect(job.status).toBe('killed');
    expect(job.statusReason).toBe('memory limit exceeded');
  });

  it('a sidecar starts first and is stopped when the basic tasks end', async () => {
    const job = await run({
      tasks: [
        { cmd: 'while true; do date +%s%N >> side.log; sleep 0.2; done', type: 'sidecar' },
        { cmd: 'sleep 2; test -s side.log && echo sidecar-was-running' },
      ],
    });
    expect(job.status).toBe('completed');
    const out = await readJobFile(job, '.hpcb/task.1.stdout');
    expect(out).toBe('sidecar-was-running\n');
    const before = (await readJobFile(job, 'side.log')).length;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await readJobFile(job, 'side.log')).length).toBe(before);
  });

  it('an openmpi task runs 2 ranks through the launcher the bridge adds', async () => {
    const job = await run({
      tasks: [{ cmd: 'echo rank-${OMPI_COMM_WORLD_RANK:-$PMI_RANK}', type: 'openmpi', procsPerNode: 2 }],
      resources: { cpus: 2 },
    });
    expect(job.status, job.statusReason ?? '').toBe('completed');
    const lines = (await readJobFile(job, '.hpcb/task.0.stdout')).trim().split('\n').sort();
    expect(lines).toEqual(['rank-0', 'rank-1']);
  });

  it('cancel while queued and while running -> deleted; cancel again is not an error', async () => {
    const queued = bridge.submit('alice', { tasks: [{ cmd: 'sleep 300' }], queue: 'parked' }).job;
    const running = bridge.submit('alice', { tasks: [{ cmd: 'sleep 300' }] }).job;
    await until('queued job in the scheduler', () => bridge.get(queued.id)!.state === 'queued', 60_000);
    await until('running job started', () => bridge.get(running.id)!.state === 'running', 60_000);
    expect(bridge.get(queued.id)!.statusReason).toMatch(/PartitionDown|waiting/);
    bridge.cancel(queued.id);
    bridge.cancel(running.id);
    const [q, r] = await Promise.all([bridge.wait(queued.id, 120_000), bridge.wait(running.id, 120_000)]);
    expect(q.status).toBe('deleted');
    expect(q.statusReason).toBe('cancelled by user');
    expect(r.status).toBe('deleted');
    expect(r.statusReason).toBe('cancelled by user');
    expect(bridge.cancel(q.id).status).toBe('deleted');
  });

  it('maximumTimeInQueue cancels a job that cannot start', async () => {
    const job = await run({ tasks: [{ cmd: 'true' }], queue: 'parked', policies: { maximumTimeInQueue: 1 } }, 240_000);
    expect(job.status).toBe('failed');
    expect(job.statusReason).toBe('maximum time in queue of 1 minute exceeded');
    const sacct = await onLogin(env, `sacct -n -X -P -j ${job.nativeId} -o State`);
    expect(sacct).toMatch(/CANCELLED/);
  });

  it('a definition the scheduler refuses fails with its message and is not retried', async () => {
    const job = await run({ tasks: [{ cmd: 'true' }], queue: 'nosuchpartition' });
    expect(job.status).toBe('failed');
    expect(job.statusReason).toMatch(/rejected by the scheduler: .*partition/i);
  });
});
