/**
 * Event followers: one long-lived channel per (cluster, account) running the follower program
 * of src/jobdir/events.ts on that account's event log, from the offset the store keeps. Each
 * batch of records is stored with the new offset in one transaction (store.recordEvents), then
 * the loop is woken; the engine's steps act on what was stored (steps/events.ts).
 *
 * A follower is healthy while its channel is open and has printed something (a record or a
 * heartbeat) within three heartbeats. An unhealthy one is closed and started again after a
 * backoff, from the stored offset; meanwhile the loop polls at its fast interval.
 */
import { parseTag } from './tag.js';
import { FollowerOutput, followProgram, parseEventRecord, type FollowerLine } from '../jobdir/events.js';
import { eventLogFor } from '../jobdir/layout.js';
import type { EventFact, EventOffset } from '../store/store.js';
import type { StreamHandle } from '../transport/transport.js';
import type { EventSettings } from './cluster.js';
import { asAccount, MAX_BACKOFF_MS, type StepContext } from './context.js';

export interface FollowerStats {
  /** Channels started (the first and every restart). */
  starts: number;
  /** Records read, and those that moved a job's facts. */
  records: number;
  applied: number;
  /** Lines that were not records of this protocol (garbage, half-written, other versions). */
  skipped: number;
  /** Records with this database's tag for a job (or attempt) it does not have. */
  unknown: number;
}

/** An account no job needs any more keeps its follower this long (a loop's next jobs come soon). */
const IDLE_STOP_MS = 60_000;
/** How long stopping waits for a follower's channel to close. */
const STOP_WAIT_MS = 2000;

export class EventFollowers {
  readonly stats: FollowerStats = { starts: 0, records: 0, applied: 0, skipped: 0, unknown: 0 };
  private readonly followers = new Map<string, Follower>();

  constructor(
    private readonly ctx: StepContext,
    private readonly settings: EventSettings,
    private readonly wake: () => void,
  ) {}

  /** Follow the logs of `accounts` (those with jobs that may still write a record). */
  ensure(accounts: ReadonlySet<string>): void {
    const now = this.ctx.now();
    for (const a of accounts) {
      let f = this.followers.get(a);
      if (!f) {
        f = new Follower(asAccount(this.ctx, a), a, this.settings, this.stats, this.wake);
        this.followers.set(a, f);
        f.start();
      }
      f.neededAt = now;
    }
    for (const [a, f] of this.followers) {
      if (!accounts.has(a) && now - f.neededAt > IDLE_STOP_MS) {
        this.followers.delete(a);
        void f.stop();
      }
    }
  }

  healthy(account: string): boolean {
    return this.followers.get(account)?.healthy() ?? false;
  }

  /** Close the channel of `account`'s follower (it restarts by itself; for tests and faults). */
  restart(account: string): void {
    this.followers.get(account)?.kill();
  }

  async stop(): Promise<void> {
    const all = [...this.followers.values()];
    this.followers.clear();
    await Promise.all(all.map((f) => f.stop()));
  }
}

class Follower {
  neededAt = 0;
  private handle: StreamHandle | null = null;
  private lastLineAt = 0;
  private stopped = false;
  private run: Promise<void> | undefined;
  private failures = 0;
  private wakeBackoff: (() => void) | undefined;
  /** Where the channel now reads: set by its `O` line, moved by each record. */
  private at: EventOffset | null = null;
  private readonly log: string;

  constructor(
    private readonly ctx: StepContext,
    private readonly account: string,
    private readonly settings: EventSettings,
    private readonly stats: FollowerStats,
    private readonly wake: () => void,
  ) {
    this.log = eventLogFor(ctx.rt.scratchRoot);
  }

  start(): void {
    this.run = this.loop();
  }

  healthy(): boolean {
    return this.handle !== null && this.at !== null && this.ctx.now() - this.lastLineAt < 3 * this.settings.heartbeatMs;
  }

  kill(): void {
    this.handle?.close();
  }

  /**
   * Close the channel and wait for the loop to end, but not for long: over a dead link the
   * channel's close is never answered, and shutdown must not hang on it (the transport's own
   * close ends it).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.handle?.close();
    this.wakeBackoff?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.run, new Promise((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
    clearTimeout(timer);
  }

  private async loop(): Promise<void> {
    while (!this.stopped && !this.ctx.stopped()) {
      const ended = await this.once().catch((e: unknown) => ({ error: e instanceof Error ? e : new Error(String(e)) }));
      this.handle = null;
      this.at = null;
      if (this.stopped || this.ctx.stopped()) return;
      this.failures++;
      this.ctx.log.info({ cluster: this.ctx.rt.name, account: this.account, err: ended.error?.message }, 'event follower ended; the status poll decides until it is back');
      this.wake(); // the loop goes back to its fast poll at once
      const delay = Math.min(500 * 2 ** Math.min(this.failures, 7), MAX_BACKOFF_MS);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wakeBackoff = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** One channel, from the stored offset until it ends. */
  private async once(): Promise<{ error?: Error }> {
    const stored = this.ctx.store.eventOffset(this.ctx.rt.name, this.account);
    const from = stored && stored.logPath === this.log ? { offset: stored.offset, inode: stored.inode } : { offset: 0, inode: null };
    const out = new FollowerOutput();
    const argv = followProgram(this.log, from, this.settings.checkMs, this.settings.heartbeatMs);
    this.stats.starts++;
    const handle = await this.ctx.rt.transport.stream!(argv, (chunk) => this.take(out.push(chunk)));
    this.handle = handle;
    this.lastLineAt = this.ctx.now();
    const watchdog = setInterval(() => {
      if (this.ctx.now() - this.lastLineAt > 3 * this.settings.heartbeatMs) handle.close();
    }, this.settings.heartbeatMs);
    try {
      return await handle.ended;
    } finally {
      clearInterval(watchdog);
    }
  }

  /** Lines of one chunk: records are stored with the offset past the last of them, at once. */
  private take(lines: FollowerLine[]): void {
    if (lines.length === 0) return;
    this.lastLineAt = this.ctx.now();
    const facts: (EventFact & { tag: string })[] = [];
    let moved = false;
    for (const l of lines) {
      if (l.kind === 'open') {
        const first = this.at === null;
        this.at = { logPath: this.log, inode: l.inode, offset: l.offset };
        if (first) this.failures = 0;
        moved = true;
      } else if (l.kind === 'record' && this.at) {
        this.at = { ...this.at, offset: l.endOffset };
        moved = true;
        const fact = this.factOf(l.text);
        if (fact) facts.push(fact);
      }
    }
    if (!moved || !this.at) return;
    const kept = this.ctx.store.recordEvents(this.ctx.rt.name, this.account, this.at, facts);
    this.stats.applied += kept;
    if (kept > 0) this.wake();
    if (kept < facts.length) this.reportUnknown(facts);
  }

  /**
   * A record with this database's tag for no job it has (a job deleted from the database, a
   * copied or hand-edited log) moves nothing, but an operator should be able to see it went by.
   * Records kept back for a known job (it already ended, or a later phase was seen) are normal.
   */
  private reportUnknown(facts: readonly (EventFact & { tag: string })[]): void {
    for (const f of this.ctx.store.unknownEventJobs(this.ctx.rt.name, facts)) {
      this.stats.unknown++;
      this.ctx.log.info({ account: this.account, tag: f.tag, phase: f.phase }, 'event record for a job this daemon does not know; ignored');
    }
  }

  /** A record of this database's jobs, or undefined (other daemons' records, garbage). */
  private factOf(text: string): (EventFact & { tag: string }) | undefined {
    this.stats.records++;
    const r = parseEventRecord(text);
    const tag = r ? parseTag(r.tag) : undefined;
    if (!r || !tag) {
      this.stats.skipped++;
      return undefined;
    }
    if (tag.instance !== this.ctx.instance) return undefined;
    return { jobId: tag.jobId, attempt: tag.attempt, phase: r.phase, exitCode: r.exitCode, at: r.at, tag: r.tag };
  }
}
