/**
 * Completion events: the record parser, the follower program's output parser, the follower
 * program itself on a real file (offsets, partial lines, truncation, rotation, resume), the
 * store's offset-and-facts transaction, and the engine finishing a job from its end record while
 * the status poll is far away (direct adapter, real processes).
 */
import { appendFileSync, mkdtempSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { awaitsScheduler } from '../../src/engine/steps/events.js';
import { parseJobSpec } from '../../src/domain/jobSpec.js';
import { FollowerOutput, followProgram, parseEventRecord, parseFollowerLine, type FollowerLine } from '../../src/jobdir/events.js';
import { eventLogFor } from '../../src/jobdir/layout.js';
import { silentLogger } from '../../src/logging.js';
import { buildSettings } from '../../src/settings/load.js';
import { Store } from '../../src/store/store.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { StreamHandle } from '../../src/transport/transport.js';

const REC = (tag: string, phase: string, code = '-', id = '4711') => `hpcb1 ${tag} ${id} ${phase} ${code} 1764766000.123456`;

describe('event records', () => {
  it('reads the fields of a record', () => {
    expect(parseEventRecord(REC('hbabc123-7-0', 'end', '3'))).toEqual({ tag: 'hbabc123-7-0', nativeId: '4711', phase: 'end', exitCode: 3, at: 1764766000123 });
    expect(parseEventRecord('hpcb1 hbabc123-7-1 - start - 1764766000,5')).toEqual({ tag: 'hbabc123-7-1', nativeId: null, phase: 'start', exitCode: null, at: 1764766000500 });
    expect(parseEventRecord('hpcb1 hbabc123-7-1 12[3].srv term 143 1764766000')?.exitCode).toBe(143);
  });

  it('skips anything that is not a whole record of this version', () => {
    for (const bad of [
      '',
      'garbage',
      REC('hbabc123-7-0', 'end', '3').slice(0, 30), // half-written
      REC('hbabc123-7-0', 'finish'),
      REC('hbabc123-7-0', 'end', 'x'),
      REC('hbabc123-7-0', 'end', '1234'),
      `hpcb2 hbabc123-7-0 1 end 0 1764766000`,
      `hpcb1 hbabc123-7-0 1 end 0 1764766000 extra`,
      `hpcb1 hb$(x) 1 end 0 1764766000`,
      `hpcb1 hbabc123-7-0 1 end 0 soon`,
    ]) {
      expect(parseEventRecord(bad), bad).toBeUndefined();
    }
  });
});

describe('follower output', () => {
  it('keeps a line cut between chunks until its newline arrives', () => {
    const out = new FollowerOutput();
    expect(out.push('O 12 0\nE 40 hpcb1 a')).toEqual([{ kind: 'open', inode: '12', offset: 0 }]);
    expect(out.push(' b\nH 4')).toEqual([{ kind: 'record', endOffset: 40, text: 'hpcb1 a b' }]);
    expect(out.push('0\n')).toEqual([{ kind: 'beat', offset: 40 }]);
  });

  it('drops lines the program never prints', () => {
    expect(parseFollowerLine('hello')).toBeUndefined();
    expect(parseFollowerLine('E x y')).toBeUndefined();
    expect(parseFollowerLine('H')).toBeUndefined();
  });
});

/** The follower program on the local machine: what it prints, line by line. */
class Run {
  lines: FollowerLine[] = [];
  private readonly out = new FollowerOutput();
  handle!: StreamHandle;
  constructor(private readonly t: LocalTransport) {}
  async start(log: string, offset: number, inode: string | null): Promise<this> {
    this.handle = await this.t.stream(followProgram(log, { offset, inode }, 20, 100), (c) => this.lines.push(...this.out.push(c)));
    return this;
  }
  records(): { endOffset: number; text: string }[] {
    return this.lines.filter((l): l is Extract<FollowerLine, { kind: 'record' }> => l.kind === 'record');
  }
  async until(pred: (r: Run) => boolean, what: string): Promise<void> {
    for (let i = 0; i < 200 && !pred(this); i++) await new Promise((r) => setTimeout(r, 25));
    expect(pred(this), `${what}: ${JSON.stringify(this.lines)}`).toBe(true);
  }
}

describe('the follower program', () => {
  const t = new LocalTransport();
  const runs: Run[] = [];
  afterEach(() => {
    for (const r of runs.splice(0)) r.handle.close();
  });
  const run = async (log: string, offset = 0, inode: string | null = null) => {
    const r = await new Run(t).start(log, offset, inode);
    runs.push(r);
    return r;
  };

  it('waits for the log, prints each whole record with the offset past it, and holds a partial line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-ev-'));
    const log = eventLogFor(dir);
    const r = await run(log);
    // Heartbeats while there is no log yet: the daemon must not take the wait for a dead channel.
    await r.until((x) => x.lines.filter((l) => l.kind === 'beat').length >= 2, 'heartbeats before the log exists');
    expect(r.records()).toEqual([]);
    expect(r.lines.every((l) => l.kind === 'beat')).toBe(true);
    const a = `${REC('hbabc123-1-0', 'start')}\n`;
    appendFileSync(log, a);
    await r.until((x) => x.records().length === 1, 'first record');
    expect(r.lines.find((l) => l.kind !== 'beat')).toMatchObject({ kind: 'open', offset: 0 });
    expect(r.records()[0]).toMatchObject({ endOffset: a.length, text: a.trimEnd() });
    const b = REC('hbabc123-1-0', 'end', '0');
    appendFileSync(log, b.slice(0, 20));
    await r.until((x) => x.lines.some((l) => l.kind === 'beat'), 'a heartbeat while half a record is there');
    expect(r.records()).toHaveLength(1);
    appendFileSync(log, `${b.slice(20)}\n`);
    await r.until((x) => x.records().length === 2, 'the completed record');
    expect(r.records()[1]).toMatchObject({ endOffset: a.length + b.length + 1, text: b });
  });

  it('resumes from a stored offset without repeating a record, and starts over on a truncated or rotated log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-ev-'));
    const log = eventLogFor(dir);
    const a = `${REC('hbabc123-1-0', 'start')}\n`;
    const b = `${REC('hbabc123-1-0', 'end', '0')}\n`;
    writeFileSync(log, a + b);
    const first = await run(log);
    await first.until((x) => x.records().length === 2, 'both records');
    const open = first.lines[0] as Extract<FollowerLine, { kind: 'open' }>;
    first.handle.close();

    // A restart from the offset after the first record sees only the second.
    const again = await run(log, a.length, open.inode);
    await again.until((x) => x.records().length === 1, 'the second record only');
    expect(again.records()[0]!.text).toBe(b.trimEnd());
    expect(again.lines[0]).toEqual({ kind: 'open', inode: open.inode, offset: a.length });

    // Truncated under a running follower: it reopens from 0 and reads what is new.
    truncateSync(log, 0);
    const c = `${REC('hbabc123-2-0', 'end', '1')}\n`;
    appendFileSync(log, c);
    await again.until((x) => x.records().some((rec) => rec.text === c.trimEnd()), 'the record after truncation');
    expect(again.lines.filter((l) => l.kind === 'open').at(-1)).toMatchObject({ offset: 0 });
    expect(again.records().at(-1)).toMatchObject({ endOffset: c.length, text: c.trimEnd() });

    // Rotated while no follower ran: the stored inode no longer matches, so from 0.
    again.handle.close();
    renameSync(log, `${log}.1`);
    writeFileSync(log, a);
    const rotated = await run(log, c.length, open.inode);
    await rotated.until((x) => x.records().length === 1, 'the new file from its start');
    expect(rotated.lines[0]).toMatchObject({ kind: 'open', offset: 0 });
  });
});

describe('store: event offsets', () => {
  it('stores facts and the offset in one transaction; a start never replaces an end; another attempt is ignored', () => {
    const store = Store.open(':memory:');
    const spec = parseJobSpec({ tasks: [{ cmd: 'true' }] });
    const { job } = store.createJob({ owner: 'alice', cluster: 'c', spec });
    const at = { logPath: '/s/events.log', inode: '9', offset: 100 };
    expect(store.recordEvents('c', 'alice', at, [{ jobId: job.id, attempt: 0, phase: 'end', exitCode: 2, at: 5 }])).toBe(1);
    expect(store.eventOffset('c', 'alice')).toEqual(at);
    expect(store.recordEvents('c', 'alice', { ...at, offset: 150 }, [{ jobId: job.id, attempt: 0, phase: 'start', exitCode: null, at: 4 }])).toBe(0);
    expect(store.recordEvents('c', 'alice', { ...at, offset: 200 }, [{ jobId: job.id, attempt: 1, phase: 'end', exitCode: 0, at: 6 }])).toBe(0);
    expect(store.recordEvents('other', 'alice', { ...at, offset: 10 }, [{ jobId: job.id, attempt: 0, phase: 'end', exitCode: 0, at: 6 }])).toBe(0);
    const j = store.get(job.id)!;
    expect([j.eventPhase, j.eventExit, j.eventAt]).toEqual(['end', 2, 5]);
    expect(store.eventOffset('c', 'alice')!.offset).toBe(200);
    expect(store.eventOffset('other', 'alice')!.offset).toBe(10);
    store.close();
  });
});

describe('which jobs bring the fast poll back', () => {
  it('a queued job nobody has seen: only while the queue stopped moving (no job of the cluster started for a fast interval)', () => {
    const store = Store.open(':memory:');
    const { job } = store.createJob({ owner: 'alice', cluster: 'c', spec: parseJobSpec({ tasks: [{ cmd: 'true' }] }) });
    const queued = { ...store.get(job.id)!, state: 'queued' as const, submittedAt: 1000, nativeState: null };
    expect(awaitsScheduler(queued, 3000, 5000, 0)).toBe(false); // not waited a fast interval yet
    expect(awaitsScheduler(queued, 7000, 5000, 0)).toBe(true); // nothing started: ask why it waits
    expect(awaitsScheduler(queued, 7000, 5000, 6500)).toBe(false); // others keep starting: its turn comes
    expect(awaitsScheduler(queued, 12_000, 5000, 6500)).toBe(true); // the queue stopped again
    expect(awaitsScheduler({ ...queued, nativeState: 'PENDING' }, 12_000, 5000, 0)).toBe(false); // a poll saw it
    expect(awaitsScheduler({ ...queued, cancelRequestedAt: 6000 }, 7000, 5000, 6500)).toBe(true);
    store.close();
  });
});

describe('engine: a job ends by its record', () => {
  let bridge: Bridge | undefined;
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
  });

  it('completes with its exit code while the status poll is minutes away, and reads the log from where it stopped', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-ev-engine-'));
    const settings = buildSettings({ dataDir }, [
      { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 300, safetyPollSeconds: 600, eventCheckSeconds: 0.02 } },
    ]);
    const b = (bridge = Bridge.open(settings, { logger: silentLogger() }));
    b.start();
    const rec = b.reconciler('here')!;
    const ok = b.submit('alice', { tasks: [{ cmd: 'echo 42' }] }).job;
    const bad = b.submit('alice', { tasks: [{ cmd: 'exit 7' }] }).job;
    const [a, c] = await Promise.all([b.wait(ok.id, 20_000), b.wait(bad.id, 20_000)]);
    expect([a.status, a.exitCode]).toEqual(['completed', 0]);
    expect([c.status, c.exitCode]).toEqual(['failed', 7]);
    // Learned from the log, not from a poll: one status command at most (the first tick's).
    expect(rec.counters.statusCommands).toBeLessThanOrEqual(1);
    expect(b.store.events(ok.id).map((e) => e.reason), JSON.stringify(b.store.events(ok.id))).toContain('script ended with status 0 (event log)');
    const stats = rec.followerStats!;
    expect(stats.applied).toBe(4); // start and end of each job, once each

    // The follower channel is killed: it comes back from the stored offset and applies nothing twice.
    const offset = b.store.eventOffset('here', rec.rt.user)!.offset;
    expect(offset).toBeGreaterThan(0);
    rec.restartFollower(rec.rt.user);
    const next = b.submit('alice', { tasks: [{ cmd: 'exit 3' }] }).job;
    const n = await b.wait(next.id, 20_000);
    expect([n.status, n.exitCode]).toEqual(['failed', 3]);
    expect(stats.starts).toBeGreaterThanOrEqual(2);
    expect(stats.applied).toBe(6);
    expect(b.store.eventOffset('here', rec.rt.user)!.offset).toBeGreaterThan(offset);
    for (const id of [ok.id, bad.id, next.id]) {
      const ends = b.store.events(id).filter((e) => e.to === 'finishing');
      expect(ends, `job ${id} went to finishing once`).toHaveLength(1);
    }
  });
});
