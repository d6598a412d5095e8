/**
 * One listener on the store's 'transition' event that fans out to everyone waiting over HTTP:
 * long-polls on a job (`/jobs/{id}/wait`) and server-sent event streams (`/events`). Waiting
 * therefore costs nothing per client beyond a map entry: no timer per client, no cluster poll,
 * and the store's EventEmitter keeps a single listener however many clients wait.
 */
import { isTerminal } from '../domain/state.js';
import type { JobRecord, Store, TransitionEvent } from '../store/store.js';

type Waiter = (job: JobRecord) => void;
export interface StreamSubscriber {
  owner: string;
  /** Called after something may have been appended to the owner's event log. */
  poke(): void;
}

export class EventHub {
  private readonly waiters = new Map<number, Set<Waiter>>();
  private readonly streams = new Set<StreamSubscriber>();
  private readonly onTransition = (e: TransitionEvent) => this.dispatch(e);

  constructor(private readonly store: Store) {
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

  subscribe(s: StreamSubscriber): () => void {
    this.streams.add(s);
    return () => this.streams.delete(s);
  }

  /** A job was created outside a transition (creation writes its event without emitting). */
  created(owner: string): void {
    for (const s of this.streams) if (s.owner === owner) s.poke();
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
    for (const s of this.streams) if (s.owner === e.job.owner) s.poke();
  }
}
