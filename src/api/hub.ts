/**
 * One listener on the store's 'transition' event that fans out to everyone waiting over HTTP:
 * long-polls on a job (`/jobs/{id}/wait`) and server-sent event streams (`/events`). Waiting
 * therefore costs nothing per client beyond a map entry: no timer per client, no cluster poll,
 * and the store's EventEmitter keeps a single listener however many clients wait.
 *
 * Streams cost per change, not per subscriber: all open streams of one user share a feed, and
 * a change reads that user's new event rows once and hands the same rows to each stream. Only a
 * stream that starts behind (resuming from an old id) or was too slow to take a delivery reads
 * on its own, to catch up. Streams are capped per user and per daemon (429 naming the limit).
 */
import { isTerminal } from '../domain/state.js';
import type { JobRecord, OwnerEvent, Store, TransitionEvent } from '../store/store.js';
import { HttpError } from './errors.js';

type Waiter = (job: JobRecord) => void;

/** One row of a user's event log, as the events route sends it. */
export type EventRow = OwnerEvent;

/** How the hub reads event rows (the SQL lives with the store). */
export interface EventSource {
  /** Rows of `owner`'s jobs with id > `after`, oldest first, at most `limit`. */
  ownerEvents(owner: string, after: number, limit: number): EventRow[];
  maxEventId(): number;
}

export interface StreamLimits {
  /** Open event streams one user may hold. */
  perUser: number;
  /** Open event streams of the whole daemon. */
  total: number;
}

export interface StreamSubscriber {
  owner: string;
  /** Last event id this subscriber has been given. */
  cursor: number;
  /**
   * New rows (id > cursor), in order. Returns false when the subscriber cannot take more now
   * (a slow reader): it is skipped until it calls `resume()`, which catches it up on its own.
   */
  deliver(rows: EventRow[]): boolean;
}

/** Every open stream of one user shares one cursor into the event log and one read per change. */
interface Feed {
  cursor: number;
  subs: Set<StreamSubscriber>;
  paused: Set<StreamSubscriber>;
  scheduled: boolean;
}

const PAGE = 500;

export class EventHub {
  private readonly waiters = new Map<number, Set<Waiter>>();
  private readonly feeds = new Map<string, Feed>();
  private openStreams = 0;
  /** Event rows read from the database for streams (a measure of the cost per change). */
  reads = 0;
  /** Of those, reads made for one stream alone (resumed from an old id, or a slow reader catching up). */
  catchUpReads = 0;
  private readonly onTransition = (e: TransitionEvent) => this.dispatch(e);

  constructor(
    private readonly store: Store,
    private readonly source?: EventSource,
    private readonly limits: StreamLimits = { perUser: 128, total: 1024 },
  ) {
    store.on('transition', this.onTransition);
  }

  /**
   * Resolve with the job once it is terminal, or with its current record after `timeoutMs`
   * or when `signal` aborts (the client went away). Never rejects.
   */
  waitTerminal(job: JobRecord, timeoutMs: number, signal?: AbortSignal): Promise<JobRecord> {
    if (isTerminal(job.state) || timeoutMs <= 0 || signal?.aborted) return Promise.resolve(this.store.get(job.id) ?? job);
    return new Promise((resolve) => {
      let set = this.waiters.get(job.id);
      if (!set) this.waiters.set(job.id, (set = new Set()));
      const done = (j: JobRecord) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set!.delete(done);
        if (set!.size === 0 && this.waiters.get(job.id) === set) this.waiters.delete(job.id);
        resolve(j);
      };
      const current = () => this.store.get(job.id) ?? job;
      const onAbort = () => done(current());
      const timer = setTimeout(() => done(current()), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(done);
      // The job may have ended between the caller's read and this registration.
      const now = this.store.get(job.id);
      if (now && isTerminal(now.state)) done(now);
    });
  }

  /**
   * Add an event stream. Throws a 429 HttpError naming the limit when the user or the daemon
   * already has as many streams open as allowed. The subscriber gets nothing until `resume()`:
   * it is then caught up from its own cursor and joins its user's shared feed. `resume()` is
   * also how a subscriber that refused a delivery (a slow reader) comes back after draining.
   */
  subscribe(s: StreamSubscriber): { unsubscribe(): void; resume(): void } {
    const src = this.requireSource();
    let feed = this.feeds.get(s.owner);
    const mine = feed?.subs.size ?? 0;
    if (mine >= this.limits.perUser) {
      throw new HttpError('TOO_MANY_STREAMS_PER_USER', `user "${s.owner}" already has ${mine} event streams open, the most one user may hold (limit ${this.limits.perUser}); close one first`);
    }
    if (this.openStreams >= this.limits.total) {
      throw new HttpError('TOO_MANY_STREAMS', `the daemon already serves ${this.openStreams} event streams, its limit (${this.limits.total}); retry later`);
    }
    if (!feed) this.feeds.set(s.owner, (feed = { cursor: src.maxEventId(), subs: new Set(), paused: new Set(), scheduled: false }));
    const f = feed;
    f.subs.add(s);
    // Paused until the caller has written its answer's head and calls resume(), which catches up.
    f.paused.add(s);
    this.openStreams++;
    let open = true;
    return {
      unsubscribe: () => {
        if (!open) return;
        open = false;
        this.openStreams--;
        f.subs.delete(s);
        f.paused.delete(s);
        if (f.subs.size === 0 && this.feeds.get(s.owner) === f) this.feeds.delete(s.owner);
      },
      resume: () => {
        if (!open || !f.paused.has(s)) return;
        if (this.catchUp(s, f)) f.paused.delete(s);
      },
    };
  }

  /** A subscriber behind the feed reads its own gap (only at subscribe, and after a slow reader drains). */
  private catchUp(s: StreamSubscriber, f: Feed): boolean {
    const src = this.requireSource();
    while (s.cursor < f.cursor) {
      const rows = src.ownerEvents(s.owner, s.cursor, PAGE).filter((r) => r.id <= f.cursor);
      this.reads++;
      this.catchUpReads++;
      if (rows.length === 0) {
        s.cursor = f.cursor;
        break;
      }
      if (!s.deliver(rows)) return false;
    }
    return true;
  }

  private requireSource(): EventSource {
    if (!this.source) throw new Error('EventHub: no event source for streams');
    return this.source;
  }

  /** A job was created outside a transition (creation writes its event without emitting). */
  created(owner: string): void {
    this.poke(owner);
  }

  get streamCount(): number {
    return this.openStreams;
  }

  /**
   * Something was appended to `owner`'s event log: one read for all of that user's streams,
   * after the current burst of changes (many transitions in one tick are one read).
   */
  private poke(owner: string): void {
    const f = this.feeds.get(owner);
    if (!f || f.scheduled) return;
    f.scheduled = true;
    setImmediate(() => {
      f.scheduled = false;
      if (this.feeds.get(owner) !== f || !this.source) return;
      for (;;) {
        const rows = this.source.ownerEvents(owner, f.cursor, PAGE);
        this.reads++;
        if (rows.length === 0) return;
        f.cursor = rows[rows.length - 1]!.id;
        for (const s of f.subs) {
          if (f.paused.has(s)) continue;
          const fresh = rows[0]!.id > s.cursor ? rows : rows.filter((r) => r.id > s.cursor);
          if (fresh.length && !s.deliver(fresh)) f.paused.add(s);
        }
        if (rows.length < PAGE) return;
      }
    });
  }

  get waiting(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  /** Answer every pending wait with the job's current record (shutdown). */
  releaseAll(): void {
    for (const [id, set] of [...this.waiters]) {
      const job = this.store.get(id);
      if (job) for (const w of [...set]) w(job);
    }
  }

  close(): void {
    this.releaseAll();
    this.store.off('transition', this.onTransition);
  }

  private dispatch(e: TransitionEvent): void {
    if (isTerminal(e.to)) {
      const set = this.waiters.get(e.job.id);
      if (set) for (const w of [...set]) w(e.job);
    }
    this.poke(e.job.owner);
  }
}
