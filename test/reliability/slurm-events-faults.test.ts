/**
 * Completion events under faults, on the real Slurm over the real sshd: the login node's sshd
 * restarted while records are appended; the event log truncated, rotated, and holding a garbage
 * line and a half-written one; a record for a job this daemon does not know; jobs killed before
 * their end record (scancel, the batch script OOM-killed, the node marked down).
 *
 * Every case checks the same things: no state invented (a job's end comes from its own record
 * or from the scheduler), nothing lost or read twice (the records the follower read equal the
 * lines appended, and the stored offset ends at the log's size), each job's terminal state and
 * exit code are the true ones, and the scheduler ran one job per bridge job. The safety-net
 * poll is short here (5 s) so that jobs whose end only the scheduler can tell finish quickly.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import type { Reconciler } from '../../src/engine/loop.js';
import { eventLogFor } from '../../src/jobdir/layout.js';
import type { JobRecord } from '../../src/store/store.js';
import { capturingLogger } from '../api/helpers.js';
import { clusterCtl, clusterStatus } from '../cluster/env.js';
import { labSettings, onLogin, until, type Lab } from '../e2e/support/lab.js';
import { checkDb, dbInstance, duplicatesAndMissing, schedulerJobsByTag, sleep, TERMINAL, writeLog, writeSummary } from './support.js';

const HEARTBEAT_MS = 5000;
const JOB_WAIT_MS = 120_000;

describe('completion events on Slurm under faults', () => {
  let lab: Lab;
  let bridge: Bridge;
  let rec: Reconciler;
  let log: string;
  let dbPath: string;
  let logs: string[] = [];
  const jobs: number[] = [];
  const figures: Record<string, unknown> = {};
  /** Set while the test node is marked down: afterAll resumes it if a case failed midway. */
  let nodeDown = false;

  const stats = () => ({ ...rec.followerStats! });
  const offset = () => bridge.store.eventOffset('lab', lab.env.user);
  const reasons = (id: number) => bridge.store.events(id).map((e) => e.reason ?? '');
  const moves = (id: number, to: string) => bridge.store.events(id).filter((e) => e.to === to).length;
  /**
   * How a job was sent to finishing: its end record, or the scheduler's word. Either is true; which
   * one wins is a race between the record reaching the daemon and the next safety-net poll (every
   * 5 s here), so the cases assert the job moved once and record the path as a figure.
   */
  const endedBy = (id: number): 'record' | 'scheduler' | undefined => {
    const r = bridge.store.events(id).find((e) => e.to === 'finishing')?.reason ?? '';
    if (/^script ended with status \d+ \(event log\)$/.test(r)) return 'record';
    if (/^(scheduler reports|left the queue)/.test(r)) return 'scheduler';
    return undefined;
  };
  const terminal = (id: number) => (TERMINAL as readonly string[]).includes(bridge.get(id)!.state);

  function submit(def: Record<string, unknown>): number {
    const id = bridge.submit('alice', def).job.id;
    jobs.push(id);
    return id;
  }
  const sh = (cmd: string) => submit({ tasks: [{ cmd }] });

  /** Size of the log and how many bytes follow its last newline (a record being written). */
  async function logShape(path = log): Promise<{ size: number; tail: number; lines: number; inode: string }> {
    const out = await onLogin(lab.env, `export LC_ALL=C; stat -c '%s %i' ${path}; wc -l < ${path}; x=$(tail -c 4096 ${path}; echo .); x=\${x%.}; r=\${x##*$'\\n'}; echo \${#r}`);
    const [first, lines, tail] = out.trim().split('\n');
    const [size, inode] = first!.split(' ');
    return { size: Number(size), inode: inode!, lines: Number(lines), tail: Number(tail) };
  }

  /** The follower has read the whole log: the stored offset is its size, on this file. */
  async function caughtUp(what: string): Promise<void> {
    let last = '';
    try {
      await until(
        `${what}: the stored offset at the log's size`,
        async () => {
          const s = await logShape();
          const o = offset();
          last = `log ${s.size} bytes (inode ${s.inode}, ${s.tail} after the last newline), stored ${JSON.stringify(o)}`;
          return o !== undefined && o.offset === s.size - s.tail && o.inode === s.inode;
        },
        30_000,
        200,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}; ${last}`, { cause: e });
    }
  }

  /** The log's records of one job (start, end, term), as the runner wrote them. */
  async function recordsOf(id: number, path = log): Promise<string[]> {
    const tag = `hb${dbInstance(dbPath)}-${id}-0`;
    const out = await onLogin(lab.env, `grep -h -F ' ${tag} ' ${path} || true`);
    return out.trim().split('\n').filter(Boolean).map((l) => l.split(' ')[3]!);
  }

  const waitAll = (ids: number[]) => Promise.all(ids.map((id) => bridge.wait(id, JOB_WAIT_MS)));

  beforeAll(async () => {
    lab = labSettings({ pollIntervalSeconds: 1, lostGraceSeconds: 20, cluster: { safetyPollSeconds: 5, eventCheckSeconds: 0.05 } });
    log = eventLogFor(lab.scratchRoot);
    dbPath = join(lab.settings.daemon.dataDir, 'hpc-bridge.db');
    const captured = capturingLogger();
    logs = captured.logs;
    bridge = Bridge.open(lab.settings, { logger: captured.logger });
    bridge.start();
    rec = bridge.reconciler('lab')!;
    // The first job starts the account's follower and creates the log.
    const first = await bridge.wait(sh('exit 0'), JOB_WAIT_MS);
    expect(first.status).toBe('completed');
    await until('the follower healthy', () => rec.followerHealthy(lab.env.user), 60_000, 100);
    await caughtUp('first job');
  });

  afterAll(async () => {
    try {
      if (nodeDown) await clusterCtl('node-resume').catch(() => undefined);
      const st = await clusterStatus().catch(() => undefined);
      if (st && !st.daemons.sshd) await clusterCtl('sshd-start');
    } finally {
      await bridge?.close();
      writeLog('slurm-events-faults', logs);
      writeSummary('slurm-events-faults', figures);
      if (lab) await onLogin(lab.env, `rm -rf '${lab.scratchRoot}'`).catch(() => undefined);
    }
  });

  it('sshd restarted while jobs run and append records: the follower reconnects from its offset, every job ends once with its true code', async () => {
    const before = stats();
    const shapeBefore = await logShape();
    const codes = [0, 3, 0, 6];
    const ids = codes.map((c, i) => sh(`sleep ${2 + 3 * i}; exit ${c}`));
    await until('all four running', () => ids.every((id) => bridge.get(id)!.state === 'running'), JOB_WAIT_MS, 100);
    // Records go on being appended (the jobs end 2-11 s from now) while the connection is gone.
    await clusterCtl('sshd-restart');
    const done = await waitAll(ids);
    expect(done.map((j) => [j.status, j.exitCode])).toEqual(codes.map((c) => [c === 0 ? 'completed' : 'failed', c]));
    for (const id of ids) {
      expect(moves(id, 'finishing'), `job ${id}: ${reasons(id).join(' | ')}`).toBe(1);
      expect(endedBy(id), reasons(id).join(' | ')).toBeDefined();
      expect(await recordsOf(id)).toEqual(['start', 'end']);
    }
    await caughtUp('after sshd restart');
    const after = stats();
    expect(after.starts, 'the follower came back on a new channel').toBeGreaterThan(before.starts);
    // Each line appended since the restart was read exactly once: none lost, none read twice.
    const shape = await logShape();
    expect(after.records - before.records).toBe(shape.lines - shapeBefore.lines);
    expect(after.records - before.records).toBe(8);
    expect(after.skipped).toBe(before.skipped);
    figures.sshdRestart = { followerStarts: after.starts - before.starts, endedBy: ids.map(endedBy) };
  });

  it('a garbage line is skipped; a half-written record is applied once, when its newline arrives', async () => {
    const before = stats();
    const shapeBefore = await logShape();
    await onLogin(lab.env, `printf '%s\\n' 'this line is not a record' >> ${log}`);
    await caughtUp('after the garbage line');
    expect(stats().skipped - before.skipped).toBe(1);

    // The job writes its own end record in two pieces, with a pause between them under the
    // test's control; the runner's end record follows when the job really ends.
    const go = `${lab.scratchRoot}/go-half`;
    const half = sh(
      `printf 'hpcb1 %s %s end 7 ' "$SLURM_JOB_NAME" "$SLURM_JOB_ID" >> ${log}; while [ ! -e ${go} ]; do sleep 0.2; done; printf '%s\\n' "$EPOCHREALTIME" >> ${log}; exit 7`,
    );
    await until('the half record in the log', async () => (await logShape()).tail > 0, JOB_WAIT_MS, 200);
    // Two heartbeats: the follower stays before the half line and takes nothing from it.
    await sleep(2 * HEARTBEAT_MS);
    await caughtUp('with a half record pending');
    expect(bridge.get(half)!.state).toBe('running');
    expect(stats().skipped - before.skipped).toBe(1);
    expect(rec.followerHealthy(lab.env.user)).toBe(true);
    await onLogin(lab.env, `touch ${go}`);
    const done = await bridge.wait(half, JOB_WAIT_MS);
    expect([done.status, done.exitCode]).toEqual(['failed', 7]);
    expect(moves(half, 'finishing')).toBe(1);
    expect(endedBy(half), reasons(half).join(' | ')).toBeDefined();
    expect(reasons(half).filter((r) => r.startsWith('script ended')).length, 'the end applied at most once').toBeLessThanOrEqual(1);
    // start, the job's own two-piece end, the runner's end.
    expect(await recordsOf(half)).toEqual(['start', 'end', 'end']);
    await caughtUp('after the half record was completed');
    const after = stats();
    const shape = await logShape();
    expect(after.records - before.records).toBe(shape.lines - shapeBefore.lines);
    expect(after.records - before.records).toBe(4);
    expect(after.skipped - before.skipped, 'only the garbage line').toBe(1);
    figures.halfRecord = { endedBy: endedBy(half) };
  });

  it('the log truncated, then rotated, while the follower runs: later jobs are still learned from their records, once each', async () => {
    // Truncated: the follower notices at its next heartbeat and reads the (now empty) file from 0.
    const inode = offset()!.inode;
    await onLogin(lab.env, `: > ${log}`);
    await until('the follower back at offset 0 of the same file', () => offset()!.offset === 0 && offset()!.inode === inode, 30_000, 100);
    let before = stats();
    const afterTruncation = [sh('sleep 1; exit 0'), sh('sleep 2; exit 4')];
    let done = await waitAll(afterTruncation);
    expect(done.map((j) => [j.status, j.exitCode])).toEqual([['completed', 0], ['failed', 4]]);
    for (const id of afterTruncation) {
      expect(endedBy(id), reasons(id).join(' | ')).toBeDefined();
      expect(moves(id, 'finishing')).toBe(1);
    }
    await caughtUp('after truncation');
    expect((await logShape()).lines).toBe(4);
    expect(stats().records - before.records).toBe(4);

    // Rotated: moved away, and for four heartbeats no new file (no job writes). The follower
    // waits for one on the same channel, still heard from; then jobs begin a new file.
    before = stats();
    await onLogin(lab.env, `mv ${log} ${log}.1`);
    await sleep(4 * HEARTBEAT_MS);
    expect(stats().starts, 'the follower kept its channel while the log was missing').toBe(before.starts);
    expect(rec.followerHealthy(lab.env.user)).toBe(true);
    const afterRotation = [sh('sleep 1; exit 0'), sh('sleep 2; exit 2')];
    done = await waitAll(afterRotation);
    expect(done.map((j) => [j.status, j.exitCode])).toEqual([['completed', 0], ['failed', 2]]);
    for (const id of afterRotation) {
      expect(endedBy(id), reasons(id).join(' | ')).toBeDefined();
      expect(moves(id, 'finishing')).toBe(1);
    }
    await caughtUp('after rotation');
    const fresh = await logShape();
    expect(fresh.inode).not.toBe(inode);
    expect(fresh.lines).toBe(4);
    expect(stats().records - before.records).toBe(4);
    expect((await logShape(`${log}.1`)).lines, 'the old file kept its records').toBe(4);
    for (const id of afterRotation) expect(await recordsOf(id)).toEqual(['start', 'end']);
    figures.truncationRotation = { endedBy: [...afterTruncation, ...afterRotation].map(endedBy), followerStarts: stats().starts - before.starts };
  });

  it('records for jobs this daemon does not know are ignored and logged; the offset moves past them and nothing else changes', async () => {
    const instance = dbInstance(dbPath);
    const snapshot = () => jobs.map((id) => JSON.stringify([bridge.get(id)!.state, bridge.get(id)!.exitCode, bridge.get(id)!.updatedAt, bridge.store.events(id).length]));
    const known = snapshot();
    const before = stats();
    const now = (Date.now() / 1000).toFixed(6);
    const lines = [
      `hpcb1 hb${instance}-987654-0 4242 end 0 ${now}`, // this daemon's tag form, no such job
      `hpcb1 hb${instance}-${jobs[0]}-3 4243 end 0 ${now}`, // a known job, an attempt it never had
      `hpcb1 hb0a1b2c-1-0 4244 start - ${now}`, // another daemon's job sharing the account
    ];
    await onLogin(lab.env, `printf '%s\\n' ${lines.map((l) => `'${l}'`).join(' ')} >> ${log}`);
    await caughtUp('after the unknown records');
    const after = stats();
    expect(after.records - before.records).toBe(3);
    expect(after.applied).toBe(before.applied);
    expect(after.skipped).toBe(before.skipped);
    expect(after.unknown - before.unknown, 'the two with this daemon\'s tag').toBe(2);
    await sleep(1000);
    expect(snapshot()).toEqual(known);
    expect(bridge.get(987654)).toBeUndefined();
    const said = logs.filter((l) => l.includes('event record for a job this daemon does not know'));
    expect(said.some((l) => l.includes(`hb${instance}-987654-0`)), said.join('')).toBe(true);
    expect(said.some((l) => l.includes(`hb${instance}-${jobs[0]}-3`)), said.join('')).toBe(true);
    // Another daemon's records are its own business: not this daemon's to report.
    expect(said.some((l) => l.includes('hb0a1b2c-1-0'))).toBe(false);
  });

  it('scancel, and the batch script OOM-killed: no end record, so the safety-net poll ends them truthfully', async () => {
    const cancelled = sh('sleep 300');
    // The task makes the batch script (its grandparent, the runner) and its own subshell the
    // OOM killer's first choices, then five processes allocate 30 MB each against the 100 MB
    // limit. One process as large as the limit would outrank even a runner with the maximum
    // adjustment (the score is its size plus the adjustment's share of the limit), so the
    // memory is spread out: the runner dies first, before it can write its end record.
    const hog = `python3 -c 'import time; b = b"x" * (30 * 1024 * 1024); time.sleep(60)'`;
    const oom = submit({
      tasks: [
        {
          cmd: `r=$(awk '{print $4}' /proc/$PPID/stat); echo 1000 > /proc/$r/oom_score_adj; echo 1000 > /proc/$PPID/oom_score_adj; for i in 1 2 3 4 5; do ${hog} & done; wait`,
        },
      ],
      resources: { memory: 0.1 },
    });
    await until('the sleeper running', () => bridge.get(cancelled)!.state === 'running', JOB_WAIT_MS, 100);
    await onLogin(lab.env, `scancel ${bridge.get(cancelled)!.nativeId!}`);
    const [c, o] = (await waitAll([cancelled, oom])) as [JobRecord, JobRecord];

    expect([c.status, c.statusReason]).toEqual(['failed', 'cancelled outside the bridge (by an administrator or the scheduler)']);
    expect(c.nativeFinal?.nativeState).toMatch(/^CANCELLED/);
    // The runner caught scancel's SIGTERM: a `term` record, which decides nothing by itself.
    expect(await recordsOf(cancelled)).toEqual(['start', 'term']);
    expect(reasons(cancelled).some((r) => r.startsWith('script ended'))).toBe(false);
    expect(endedBy(cancelled), 'by the safety-net poll').toBe('scheduler');

    expect([o.status, o.statusReason]).toEqual(['killed', 'memory limit exceeded']);
    expect(o.nativeFinal?.nativeState).toBe('OUT_OF_MEMORY');
    expect(await recordsOf(oom), 'the batch script died before its end record').toEqual(['start']);
    expect(reasons(oom).some((r) => r.startsWith('script ended'))).toBe(false);
    expect(endedBy(oom), 'by the safety-net poll').toBe('scheduler');
    await caughtUp('after scancel and OOM');
  });

  it('the node marked down under a running job: it ends as a node failure, by the poll, and is not resubmitted', async () => {
    const job = sh('sleep 300');
    await until('running', () => bridge.get(job)!.state === 'running', JOB_WAIT_MS, 100);
    const submits = rec.counters.jobsSubmitted;
    let done: JobRecord;
    try {
      nodeDown = true;
      await clusterCtl('node-down');
      done = await bridge.wait(job, JOB_WAIT_MS);
    } finally {
      await clusterCtl('node-resume');
      nodeDown = false;
    }
    expect([done.status, done.statusReason, done.exitCode]).toEqual(['failed', 'node failure', null]);
    expect(done.nativeFinal?.nativeState).toBe('NODE_FAIL');
    expect(reasons(job).some((r) => r.startsWith('script ended'))).toBe(false);
    expect(endedBy(job), 'by the safety-net poll').toBe('scheduler');
    const records = await recordsOf(job);
    expect(records).not.toContain('end');
    expect(rec.counters.jobsSubmitted, 'no second submission').toBe(submits);
    figures.nodeDown = { records };
    await caughtUp('after the node failure');
  });

  it('over the whole file: database consistent, one scheduler job per bridge job, every job ended', async () => {
    for (const id of jobs) expect(terminal(id), `job ${id} is ${bridge.get(id)!.state}`).toBe(true);
    const db = checkDb(dbPath);
    expect(db.integrity).toBe('ok');
    expect(db.impossible).toEqual([]);
    const sched = await until('sacct lists every job', async () => {
      const s = await schedulerJobsByTag(lab.env, dbInstance(dbPath));
      return s.length >= jobs.length ? s : undefined;
    }, 60_000, 1000);
    expect(duplicatesAndMissing(jobs, sched)).toEqual({ duplicates: [], missing: [] });
    expect(sched).toHaveLength(jobs.length);
    expect(rec.counters.jobsSubmitted).toBe(jobs.length);
    figures.jobs = jobs.length;
    figures.follower = stats();
  });
});
