/**
 * Completion events on the real Slurm over the real sshd: a job's start and end are learned from
 * the account's event log (one follower channel), not from squeue; a follower whose channel is
 * killed resumes from the stored offset and applies no record twice; with the follower unable
 * to read the log, the status poll decides as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import type { Reconciler } from '../../src/engine/loop.js';
import { eventLogFor } from '../../src/jobdir/layout.js';
import { labSettings, onLogin, until, type Lab } from './support/lab.js';

const reasons = (b: Bridge, id: number) => b.store.events(id).map((e) => e.reason ?? '');
const finishingMoves = (b: Bridge, id: number) => b.store.events(id).filter((e) => e.to === 'finishing');

describe('completion events on Slurm', () => {
  // Polls minutes apart: anything learned within the test came from the event log.
  let lab: Lab;
  let bridge: Bridge;
  let rec: Reconciler;
  // Fast polls, slow safety net: used with the log made unreadable (follower down).
  let fastLab: Lab;
  let fast: Bridge;

  beforeAll(() => {
    lab = labSettings({ pollIntervalSeconds: 600, cluster: { safetyPollSeconds: 600, eventCheckSeconds: 0.05 } });
    bridge = Bridge.open(lab.settings);
    bridge.start();
    rec = bridge.reconciler('lab')!;
    fastLab = labSettings({ clusterName: 'fast', pollIntervalSeconds: 1, cluster: { safetyPollSeconds: 600 } });
    fast = Bridge.open(fastLab.settings);
    fast.start();
  });

  afterAll(async () => {
    await bridge?.close();
    await fast?.close();
    if (fastLab) await onLogin(fastLab.env, `chmod 600 ${eventLogFor(fastLab.scratchRoot)} 2>/dev/null; true`);
  });

  it('learns start and end from the event log with squeue minutes away: completed and failed with the right exit codes', async () => {
    const ok = bridge.submit('alice', { tasks: [{ cmd: 'echo 42' }] }).job;
    const bad = bridge.submit('alice', { tasks: [{ cmd: 'exit 5' }] }).job;
    const [a, b] = await Promise.all([bridge.wait(ok.id, 120_000), bridge.wait(bad.id, 120_000)]);
    expect([a.status, a.exitCode, a.nativeId]).toEqual(['completed', 0, expect.stringMatching(/^\d+$/)]);
    expect([b.status, b.exitCode]).toEqual(['failed', 5]);
    expect(rec.counters.statusCommands, 'no status command ran').toBe(0);
    expect(reasons(bridge, ok.id)).toContain('script ended with status 0 (event log)');
    expect(reasons(bridge, bad.id)).toContain('script ended with status 5 (event log)');
    // Accounting is filled in after the job completed, without holding it back.
    expect(a.accounting).toBeNull();
    expect(bridge.get(ok.id)!.accountingDue).not.toBeNull();
    expect(rec.followerStats!.applied).toBe(4);
  });

  it('a follower whose channel is killed resumes from the stored offset: nothing lost, nothing applied twice', async () => {
    const stats = rec.followerStats!;
    const before = { applied: stats.applied, starts: stats.starts };
    const offset = bridge.store.eventOffset('lab', lab.env.user)!.offset;
    expect(offset).toBeGreaterThan(0);
    const job = bridge.submit('alice', { tasks: [{ cmd: 'sleep 4; exit 3' }] }).job;
    await until('the job started (event log)', () => bridge.get(job.id)!.state === 'running', 60_000, 50);
    expect(reasons(bridge, job.id)).toContain('started (event log)');
    rec.restartFollower(lab.env.user);
    await until('a second follower channel', () => stats.starts > before.starts, 30_000, 50);
    const done = await bridge.wait(job.id, 120_000);
    expect([done.status, done.exitCode]).toEqual(['failed', 3]);
    expect(reasons(bridge, job.id)).toContain('script ended with status 3 (event log)');
    expect(finishingMoves(bridge, job.id)).toHaveLength(1);
    expect(stats.applied - before.applied, 'the start and the end record, once each').toBe(2);
    expect(bridge.store.eventOffset('lab', lab.env.user)!.offset).toBeGreaterThan(offset);
    expect(rec.counters.statusCommands).toBe(0);
    // Every record in the log was read exactly once: the log holds 3 jobs x 2 records.
    const log = await onLogin(lab.env, `cat ${eventLogFor(lab.scratchRoot)}`);
    expect(log.trim().split('\n')).toHaveLength(6);
    expect(bridge.store.eventOffset('lab', lab.env.user)!.offset).toBe(Buffer.byteLength(log));
  });

  it('with the follower down (its log unreadable), status polls decide at the fast interval', async () => {
    const log = eventLogFor(fastLab.scratchRoot);
    await onLogin(fastLab.env, `mkdir -p ${fastLab.scratchRoot} && touch ${log} && chmod 000 ${log}`);
    const r = fast.reconciler('fast')!;
    const job = fast.submit('alice', { tasks: [{ cmd: 'sleep 2; exit 4' }] }).job;
    const done = await fast.wait(job.id, 120_000);
    expect([done.status, done.exitCode]).toEqual(['failed', 4]);
    expect(reasons(fast, job.id).some((x) => /^(left the queue|scheduler reports)/.test(x)), reasons(fast, job.id).join(' | ')).toBe(true);
    expect(reasons(fast, job.id).some((x) => x.includes('(event log)'))).toBe(false);
    expect(r.counters.statusCommands).toBeGreaterThan(0);
    expect(r.followerStats!.applied).toBe(0);
    // Decided by the poll, after accounting's short wait: the details are there at once.
    expect(done.accounting).not.toBeNull();
  });

  it('once the log is readable again the follower comes back; a job it ends gets its accounting details afterwards', async () => {
    await onLogin(fastLab.env, `chmod 600 ${eventLogFor(fastLab.scratchRoot)}`);
    const r = fast.reconciler('fast')!;
    await until('the follower healthy again', () => r.followerHealthy(fastLab.env.user), 120_000, 100);
    const job = fast.submit('alice', { tasks: [{ cmd: 'exit 0' }] }).job;
    const done = await fast.wait(job.id, 120_000);
    expect([done.status, done.exitCode]).toEqual(['completed', 0]);
    expect(reasons(fast, job.id)).toContain('script ended with status 0 (event log)');
    expect(done.accounting).toBeNull();
    const filled = await until('accounting filled in', () => fast.get(job.id)!.accounting, 120_000, 500);
    expect(filled.nodeList).toBeTruthy();
    expect(filled.elapsedSeconds).toBeGreaterThanOrEqual(0);
    expect(fast.get(job.id)!.status).toBe('completed');
    expect(fast.get(job.id)!.accountingDue).toBeNull();
  });
});
