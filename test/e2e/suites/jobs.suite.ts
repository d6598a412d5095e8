/**
 * The job suite: states, reasons, exit codes, limits, cancel and policies, end to end through
 * the Bridge on the real test cluster over the real sshd. One definition, run once per
 * scheduler dialect (test/e2e/slurm-jobs.test.ts, test/e2e/torque-jobs.test.ts).
 *
 * The public result (status, statusReason, exitCode, taskExitCodes, files) must be the same on
 * every scheduler. Where a scheduler's own view differs (its native state letters, whether it has
 * accounting, whether it says why a job waits) a capability flag replaces the Slurm assertion
 * with a different, explicit one. It never drops an assertion, and it never fakes what the
 * scheduler printed. docs/SCHEDULERS.md lists the same differences.
 *
 * The tests share one bridge and run concurrently (each waits for its own job); the `parked`
 * partition (queue) is DOWN so jobs there stay queued.
 */
import { posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../../src/bridge.js';
import { runtimeForJob } from '../../../src/engine/cluster.js';
import { jobDirFor } from '../../../src/jobdir/layout.js';
import type { JobRecord } from '../../../src/store/store.js';
import { labSettings, onLogin, until, type LabOptions } from '../support/lab.js';

export interface JobSuiteCapabilities {
  /** What a native id looks like as the submit command printed it. */
  nativeId: RegExp;
  /**
   * The adapter has an accounting command (Slurm: sacct). Its record gives `job.accounting`
   * (nodes, elapsed time, max RSS). Without one, what the status poll saw of the finished job
   * (`job.nativeFinal`) is all there is.
   */
  accounting: boolean;
  /**
   * The scheduler's own final state says a job was killed for its walltime (Slurm: TIMEOUT).
   * When false (the Torque wrappers print `C` for every finished job, with no exit status), the
   * bridge decides from the runner's `.hpcb/terminated` file (SIGTERM after the walltime was used up).
   */
  reportsWalltimeKill: boolean;
  /**
   * How the scheduler's own final record shows a walltime kill, when reportsWalltimeKill (default:
   * state TIMEOUT, Slurm). OpenPBS: state F, and the kill in Exit_status -29.
   */
  walltimeKill?: { state: RegExp; reason?: RegExp };
  /** The native state of a finished job when the scheduler does not say how it ended (Torque: C). */
  finishedState?: RegExp;
  /**
   * When the scheduler's state for an OOM-killed job does not say it (Torque wrappers: U), the
   * state it shows; the outcome then rests on the job's own evidence. Unset: the state says it.
   */
  memoryKillState?: RegExp;
  /**
   * The scheduler kills a job over its memory request (default true). OpenPBS's MoM without the
   * cgroups hook only samples usage every few minutes, and the test's job is gone within seconds:
   * it runs to its end there, over its request, and the suite asserts that instead.
   */
  enforcesMemory?: boolean;
  /** What the bridge says of a submission to a queue that does not exist (default: Slurm's partition error). */
  unknownQueueReason?: RegExp;
  /** The status command says why a queued job waits (Slurm: PartitionDown). */
  reportsPendingReason: boolean;
  /**
   * How the scheduler itself shows a job the bridge cancelled (for the maximumTimeInQueue test):
   * a shell command on the login node whose output must match `cancelledState`. `%ID%` is the native id.
   */
  schedulerViewOfCancelled: { command: string; cancelledState: RegExp };
  /**
   * Ground truth underneath the scheduler commands, when the test cluster has it (both dialects
   * here run on Slurm, so sacct is it). Used by the harness only, never by the adapter.
   */
  groundTruthOfCancelled?: { command: string; cancelledState: RegExp };
  /** Per-test timeout for jobs that end by a limit (walltime, queue time), in ms. */
  limitTestTimeoutMs?: number;
}

export function defineJobSuite(name: string, labOptions: LabOptions, caps: JobSuiteCapabilities): void {
  let bridge: Bridge;
  let env: ReturnType<typeof labSettings>['env'];

  beforeAll(() => {
    const lab = labSettings(labOptions);
    env = lab.env;
    bridge = Bridge.open(lab.settings);
    bridge.start();
  });

  afterAll(async () => {
    await bridge?.close();
  });

  // With identities, the suite's jobs alternate between alice and bob, who run as two Unix accounts.
  let turn = 0;
  const nextOwner = () => (labOptions.identities && turn++ % 2 === 1 ? 'bob' : 'alice');

  async function run(def: unknown, timeoutMs = 180_000, owner = nextOwner()): Promise<JobRecord> {
    const { job } = bridge.submit(owner, def);
    const done = await bridge.wait(job.id, timeoutMs);
    expect(done.status, `job ${job.id} should be terminal (is ${done.state}: ${done.statusReason})`).toMatch(/completed|failed|killed|deleted/);
    return done;
  }

  /**
   * The job once the scheduler's details of its end are in: a job decided from its end record
   * completes first and gets accounting (or the status command's final view) afterwards.
   */
  async function withDetails(job: JobRecord): Promise<JobRecord> {
    return until(`job ${job.id}'s accounting details`, () => {
      const j = bridge.get(job.id)!;
      return j.accountingDue === null ? j : undefined;
    }, 120_000, 250);
  }

  async function readJobFile(job: JobRecord, rel: string): Promise<string> {
    const rt = runtimeForJob(bridge.reconciler(labOptions.clusterName ?? 'lab')!.rt, job);
    const path = posix.join(jobDirFor(rt.scratchRoot, bridge.store.instanceId(), job.id), rel);
    const buf = await rt.transport.readRange(path, 0, 1 << 20);
    return buf ? buf.toString('utf8') : '';
  }

  async function listJobDir(job: JobRecord): Promise<string[]> {
    const rt = runtimeForJob(bridge.reconciler(labOptions.clusterName ?? 'lab')!.rt, job);
    const entries = await rt.transport.list(jobDirFor(rt.scratchRoot, bridge.store.instanceId(), job.id));
    return (entries ?? []).map((e) => e.name).sort();
  }

  const onId = (command: string, nativeId: string) => command.replaceAll('%ID%', nativeId);
  // Jobs ended by a limit wait longer; the test's own timeout leaves 30 s for the assertions.
  const limitWait = caps.limitTestTimeoutMs !== undefined ? caps.limitTestTimeoutMs - 30_000 : 240_000;
  const limitTimeout = caps.limitTestTimeoutMs;

  describe.concurrent(name, () => {
    it('exit 0 -> completed, with two tasks run in order in one directory', async () => {
      const job = await run({
        name: 'two-tasks',
        tasks: [{ cmd: 'echo first > order.txt; echo hello-from-task-1' }, { cmd: 'echo second >> order.txt; cat order.txt' }],
      });
      expect(job.status).toBe('completed');
      expect(job.statusReason).toBe('all tasks exited 0');
      expect(job.taskExitCodes).toEqual([0, 0]);
      expect(job.exitCode).toBe(0);
      expect(job.nativeId).toMatch(caps.nativeId);
      expect(await readJobFile(job, '.hpcb/task.0.stdout')).toBe('hello-from-task-1\n');
      expect(await readJobFile(job, '.hpcb/task.1.stdout')).toBe('first\nsecond\n');
      // The scheduler's own logs stay in .hpcb/, out of the user's files (on the Torque wrappers
      // only because the adapter repeats -o/-e on qsub's command line).
      expect(await listJobDir(job)).toEqual(['.hpcb', 'order.txt']);
      const events = bridge.store.events(job.id).map((e) => e.to);
      expect(events[0]).toBe('accepted');
      expect(events).toContain('submitting');
      expect(events.at(-1)).toBe('completed');
      const later = await withDetails(job);
      expect(later.status).toBe('completed');
      if (caps.accounting) {
        expect(later.accounting?.nodeList).toBeTruthy();
      } else {
        // No accounting command (Torque keeps no history): no accounting record, and the nodes
        // come from what the status command printed for the finished job (exec_host).
        expect(later.accounting).toBeNull();
        expect(later.nativeFinal?.nativeState).toMatch(caps.finishedState!);
        expect(later.nativeFinal?.nodeList).toBeTruthy();
      }
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
      const job = await run({ tasks: [{ cmd: 'sleep 600' }], resources: { walltime: 1 } }, limitWait);
      expect(job.status).toBe('killed');
      expect(job.statusReason).toBe('walltime of 1 minute exceeded');
      if (caps.reportsWalltimeKill) {
        expect(job.nativeFinal?.nativeState).toMatch(caps.walltimeKill?.state ?? /TIMEOUT/);
        if (caps.walltimeKill?.reason) expect(job.nativeFinal?.reason).toMatch(caps.walltimeKill.reason);
      } else {
        // The scheduler only says the job finished (Torque wrappers: `C`, no exit_status). The
        // evidence is the runner's: it recorded SIGTERM while task 0 ran, and no `exit` file.
        expect(job.nativeFinal?.nativeState).toMatch(caps.finishedState!);
        expect(await readJobFile(job, '.hpcb/terminated')).toMatch(/^TERM \d+ 0\n?$/);
        expect(await readJobFile(job, '.hpcb/exit')).toBe('');
      }
    }, limitTimeout);

    it('over-memory -> killed with reason "memory limit exceeded"', async () => {
      const job = await run({
        tasks: [{ cmd: "python3 -c 'import time; b = bytearray(400 * 1024 * 1024); time.sleep(5)'" }],
        resources: { memory: 0.1 },
      });
      if (caps.enforcesMemory === false) {
        // Not enforced within the job's 5 s: it completes, and the scheduler's own record shows
        // it used more than it asked for (the bridge never claims a kill nobody made).
        expect(job.status).toBe('completed');
        const later = await withDetails(job);
        expect(later.accounting?.maxRssBytes ?? later.nativeFinal?.maxRssBytes ?? 0).toBeGreaterThan(0.1 * 1024 ** 3);
        return;
      }
      expect(job.status).toBe('killed');
      expect(job.statusReason).toBe('memory limit exceeded');
      if (caps.memoryKillState) {
        // The scheduler's state does not say "memory" (Torque wrappers: U, their letter for
        // Slurm OUT_OF_MEMORY); the evidence is Slurm's "oom-kill event" line in the scheduler's
        // stderr and the task's exit status 137.
        expect(job.nativeFinal?.nativeState).toMatch(caps.memoryKillState);
        expect(job.exitCode).toBe(137);
        expect(await readJobFile(job, '.hpcb/scheduler.err')).toMatch(/oom-kill/);
      }
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
      // With identities the running one is bob's: his cancel goes out as his account.
      const running = bridge.submit(labOptions.identities ? 'bob' : 'alice', { tasks: [{ cmd: 'sleep 300' }] }).job;
      await until('queued job in the scheduler', () => bridge.get(queued.id)!.state === 'queued', 60_000);
      await until('running job started', () => bridge.get(running.id)!.state === 'running', 60_000);
      // The start may come from the job's own record, before any status poll: the reason for
      // waiting comes with the first poll that sees the queued job.
      await until('the queued job seen by a status poll', () => bridge.get(queued.id)!.statusReason, 60_000);
      if (caps.reportsPendingReason) {
        expect(bridge.get(queued.id)!.statusReason).toMatch(/PartitionDown|waiting/);
      } else {
        // The status command gives no reason for a queued job (the Torque wrappers print no
        // `comment`), so the bridge says only that it waits.
        expect(bridge.get(queued.id)!.statusReason).toBe('waiting in the queue');
      }
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
      // alice's: the scheduler's view below is read on the login node as her account.
      const job = await run({ tasks: [{ cmd: 'true' }], queue: 'parked', policies: { maximumTimeInQueue: 1 } }, limitWait, 'alice');
      expect(job.status).toBe('failed');
      expect(job.statusReason).toBe('maximum time in queue of 1 minute exceeded');
      const view = await onLogin(env, onId(caps.schedulerViewOfCancelled.command, job.nativeId!));
      expect(view).toMatch(caps.schedulerViewOfCancelled.cancelledState);
      if (caps.groundTruthOfCancelled) {
        const truth = await onLogin(env, onId(caps.groundTruthOfCancelled.command, job.nativeId!));
        expect(truth).toMatch(caps.groundTruthOfCancelled.cancelledState);
      }
    }, limitTimeout);

    it('a definition the scheduler refuses fails with its message and is not retried', async () => {
      const job = await run({ tasks: [{ cmd: 'true' }], queue: 'nosuchpartition' });
      expect(job.status).toBe('failed');
      expect(job.statusReason).toMatch(caps.unknownQueueReason ?? /rejected by the scheduler: .*partition/i);
    });
  });
}
