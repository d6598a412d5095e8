/**
 * The whole engine (store, reconciler, remote programs, runner, outcome decisions) through the
 * `direct` adapter on the local transport: real processes, real files, no scheduler needed.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import { buildSettings } from '../../src/settings/load.js';
import { silentLogger } from '../../src/logging.js';
import { directAdapter } from '../../adapters/direct/index.js';
import { BridgeError } from '../../src/domain/errors.js';

let bridge: Bridge | undefined;
afterEach(async () => {
  await bridge?.close();
  bridge = undefined;
});

function open(extra: Record<string, unknown> = {}, opts: Parameters<typeof Bridge.open>[1] = {}): Bridge {
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-direct-'));
  const settings = buildSettings({ dataDir }, [
    { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 0.2, lostGraceSeconds: 2, ...extra } },
  ]);
  bridge = Bridge.open(settings, { logger: silentLogger(), ...opts });
  bridge.start();
  return bridge;
}

async function reach(b: Bridge, id: number, state: string): Promise<void> {
  for (let i = 0; i < 600 && b.get(id)!.state !== state; i++) await new Promise((r) => setTimeout(r, 100));
  expect(b.get(id)!.state, `job ${id} should reach ${state}`).toBe(state);
}

/** SIGKILL a direct job's whole session: no trap runs, no exit file is written. */
function killSession(b: Bridge, id: number): void {
  const pid = Number(b.get(id)!.nativeId);
  expect(Number.isInteger(pid) && pid > 1).toBe(true);
  process.kill(-pid, 'SIGKILL');
}

function jobFile(b: Bridge, id: number, rel: string): string {
  return readFileSync(join(jobDirFor(b.reconciler('here')!.rt.scratchRoot, b.store.instanceId(), id), rel), 'utf8');
}

describe('engine with the direct adapter', () => {
  it('a job that starts and ends between two polls still records when it started', async () => {
    const b = open({ pollIntervalSeconds: 5 });
    const before = Date.now();
    const { job } = b.submit('alice', { tasks: [{ cmd: 'true' }] });
    const done = await b.wait(job.id, 30_000);
    expect(done.status).toBe('completed');
    // The runner's own stamp (whole seconds) from .hpcb/started, not the time the engine noticed.
    expect(done.startedAt).not.toBeNull();
    expect(done.startedAt!).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(done.startedAt!).toBeLessThanOrEqual(done.endedAt!);
    // Seen by a poll (a ps STAT) or not (the adapter's word from the job's own testimony): never none.
    expect(b.get(job.id)!.nativeState).toMatch(/^(exited:0|[A-Z][a-zA-Z+<]*)$/);
  });

  it('a job created while the loop waits for its next tick is staged and submitted at once (wake)', async () => {
    // The loop's pauses never end by themselves here (its timers are fake): only the wake that
    // creating a job sends can run the tick that stages and submits it.
    const realSetTimeout = globalThis.setTimeout;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const b = open({ pollIntervalSeconds: 3600 });
      await new Promise((r) => realSetTimeout(r, 300)); // the first (empty) tick is over: the loop waits
      const { job } = b.submit('alice', { tasks: [{ cmd: 'true' }] });
      for (let i = 0; i < 300 && b.get(job.id)!.state !== 'queued'; i++) await new Promise((r) => realSetTimeout(r, 100));
      expect(b.get(job.id)).toMatchObject({ state: 'queued', nativeId: expect.stringMatching(/^\d+$/) });
    } finally {
      vi.useRealTimers();
    }
  });

  it('says what a job no poll saw ended as, from its testimony', () => {
    const a = directAdapter;
    expect(a.nativeStateFromTestimony?.({ exitCode: 0, terminatedBy: null })).toBe('exited:0');
    expect(a.nativeStateFromTestimony?.({ exitCode: 3, terminatedBy: null })).toBe('exited:3');
    expect(a.nativeStateFromTestimony?.({ exitCode: null, terminatedBy: 'TERM 1700000000 0' })).toBe('signalled:TERM');
    expect(a.nativeStateFromTestimony?.({ exitCode: null, terminatedBy: null })).toBeUndefined();
  });

  it('runs tasks in order with inline inputs and reports completed / failed truthfully', async () => {
    const b = open();
    const ok = b.submit('alice', {
      tasks: [{ cmd: 'cat sample.in > copy.txt; ./run.sh' }, { cmd: 'cat copy.txt' }],
      inputs: [
        { filename: 'sample.in', content: Buffer.from('x = 42\n').toString('base64') },
        { filename: 'run.sh', content: Buffer.from('#!/bin/sh\necho ran\n').toString('base64'), executable: true },
      ],
    }).job;
    const bad = b.submit('alice', { tasks: [{ cmd: 'exit 3' }] }).job;
    const [o, f] = await Promise.all([b.wait(ok.id, 20_000), b.wait(bad.id, 20_000)]);
    expect(o.status).toBe('completed');
    expect(o.taskExitCodes).toEqual([0, 0]);
    expect(jobFile(b, ok.id, '.hpcb/task.0.stdout')).toBe('ran\n');
    expect(jobFile(b, ok.id, '.hpcb/task.1.stdout')).toBe('x = 42\n');
    expect(f.status).toBe('failed');
    expect(f.statusReason).toBe('task exited with code 3');
    const states = b.store.events(ok.id).map((e) => e.to);
    // A poll may see the job only once it has left the queue, so `running` may be skipped; every
    // other step is there, in order, once.
    const path = ['accepted', 'staging_in', 'submitting', 'queued', 'running', 'finishing', 'staging_out', 'completed'];
    expect([path, path.filter((s) => s !== 'running')]).toContainEqual(states);
  });

  it('cancels a running job (deleted) and treats a second cancel as a no-op', async () => {
    const b = open();
    const job = b.submit('alice', { tasks: [{ cmd: 'sleep 60' }] }).job;
    await reach(b, job.id, 'running');
    b.cancel(job.id);
    const done = await b.wait(job.id, 20_000);
    expect(done.status).toBe('deleted');
    expect(done.statusReason).toBe('cancelled by user');
    expect(b.cancel(job.id).status).toBe('deleted');
  });

  it('cancels before submission without touching the cluster', async () => {
    const b = open();
    await b.reconciler('here')!.stop();
    const job = b.submit('alice', { tasks: [{ cmd: 'true' }] }).job;
    b.cancel(job.id);
    b.reconciler('here')!.start();
    const done = await b.wait(job.id, 10_000);
    expect(done.status).toBe('deleted');
    expect(done.nativeId).toBeNull();
  });

  it('a job whose process vanished without an exit file is lost, only after the grace window', async () => {
    // A killed session writes no end record: only the status poll (the safety net, here as
    // fast as the poll itself) can see it vanish.
    const b = open({ lostGraceSeconds: 2, safetyPollSeconds: 0.2 });
    const job = b.submit('alice', { tasks: [{ cmd: 'sleep 30' }] }).job;
    await reach(b, job.id, 'running');
    killSession(b, job.id);
    const t0 = Date.now();
    const done = await b.wait(job.id, 20_000);
    expect(done.status).toBe('failed');
    expect(done.statusReason).toMatch(/^lost/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
  });

  it('a long stage-out does not hold the loop: later jobs are submitted and finish meanwhile', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = open({}, {
      staging: {
        async stageOut(job) {
          if (job.spec.name === 'big-outputs') await gate; // stands in for tens of GB coming back
        },
      },
    });
    const slow = b.submit('alice', { name: 'big-outputs', tasks: [{ cmd: 'true' }] }).job;
    await reach(b, slow.id, 'staging_out');
    const fast = b.submit('alice', { name: 'small', tasks: [{ cmd: 'echo done' }] }).job;
    expect((await b.wait(fast.id, 20_000)).status).toBe('completed');
    expect(b.get(slow.id)!.state).toBe('staging_out');
    release();
    expect((await b.wait(slow.id, 20_000)).status).toBe('completed');
  });

  it('rejects a definition the adapter cannot run with a clear error, not half a job', () => {
    const b = open();
    expect(() => b.submit('alice', { tasks: [{ cmd: 'x' }], cluster: 'elsewhere' })).toThrow(/cluster: no cluster named "elsewhere"/);
    expect(b.list({ owner: 'alice', scope: 'all' })).toHaveLength(0);
  });
});

describe('engine retries and unknown submit outcomes (direct adapter)', () => {
  it('maximumRetries resubmits a job that was lost, and the new attempt completes', async () => {
    const b = open({ lostGraceSeconds: 1, safetyPollSeconds: 0.2 });
    const job = b.submit('alice', {
      tasks: [{ cmd: 'if [ ! -f first-attempt ]; then touch first-attempt; sleep 60; fi; echo attempt-$HPCB_ATTEMPT' }],
      policies: { maximumRetries: 1 },
    }).job;
    await reach(b, job.id, 'running');
    // "running" means the process exists, not that the task has begun: on a loaded machine the
    // runner may not have reached `touch` yet, and a kill then would make attempt 2 the first.
    const marker = join(jobDirFor(b.reconciler('here')!.rt.scratchRoot, b.store.instanceId(), job.id), 'first-attempt');
    for (let i = 0; i < 200 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 50));
    killSession(b, job.id);
    const done = await b.wait(job.id, 50_000);
    expect(done.status, JSON.stringify({ s: done.state, r: done.statusReason, e: done.lastError, ev: b.store.events(job.id).map((e) => e.reason) })).toBe('completed');
    expect(done.attempt).toBe(1);
    expect(jobFile(b, job.id, '.hpcb/task.0.stdout')).toBe('attempt-1\n');
    expect(b.store.events(job.id).some((e) => /^resubmitting \(attempt 2 of 2\) after: lost/.test(e.reason ?? ''))).toBe(true);
  }, 60_000);

  it("a job's own non-zero exit is not retried by maximumRetries", async () => {
    const b = open();
    const done = await b.wait(b.submit('alice', { tasks: [{ cmd: 'exit 5' }], policies: { maximumRetries: 2 } }).job.id, 20_000);
    expect(done.status).toBe('failed');
    expect(done.attempt).toBe(0);
  });

  function lyingOnce(): { lied: () => boolean; opts: Parameters<typeof Bridge.open>[1] } {
    let lied = false;
    return {
      lied: () => lied,
      opts: {
        adapterFor: () => ({
          ...directAdapter,
          parseSubmit(r) {
            const id = directAdapter.parseSubmit(r);
            if (!lied) {
              // What sbatch does when the controller accepted the job but the reply timed out.
              lied = true;
              throw new BridgeError('SCHEDULER_ERROR', 'Socket timed out on send/recv operation', { transient: true });
            }
            return id;
          },
        }),
      },
    };
  }

  it('a submit whose answer was lost is adopted by its tag while the job is in the queue, never submitted twice', async () => {
    const liar = lyingOnce();
    const b = open({}, liar.opts);
    const job = b.submit('alice', { tasks: [{ cmd: 'echo run >> runs.log; sleep 20' }] }).job;
    for (let i = 0; i < 200 && b.get(job.id)!.nativeId === null; i++) await new Promise((r) => setTimeout(r, 100));
    expect(liar.lied()).toBe(true);
    expect(b.store.events(job.id).some((e) => /found in the queue by its tag/.test(e.reason ?? ''))).toBe(true);
    b.cancel(job.id);
    expect((await b.wait(job.id, 30_000)).status).toBe('deleted');
    expect(jobFile(b, job.id, 'runs.log')).toBe('run\n');
  });

  it('a submit whose answer was lost is adopted by the id the job recorded, after it left the queue', async () => {
    const liar = lyingOnce();
    const b = open({}, liar.opts);
    // Finishes long before the retry's poll: only its own testimony (.hpcb/native_id) is left.
    const job = b.submit('alice', { tasks: [{ cmd: 'echo run >> runs.log' }] }).job;
    const done = await b.wait(job.id, 30_000);
    expect(liar.lied()).toBe(true);
    expect(done.status).toBe('completed');
    expect(jobFile(b, job.id, 'runs.log')).toBe('run\n');
    expect(b.store.events(job.id).some((e) => /the job recorded its own id when it started/.test(e.reason ?? ''))).toBe(true);
  });
});
