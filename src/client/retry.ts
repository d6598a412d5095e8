/**
 * How the SDK rides through a daemon restart or a network blip: which failures are worth
 * another attempt, how long to keep trying, and how long to sleep in between.
 *
 * A failure is transient when retrying can fix it: the daemon could not be reached or the
 * connection broke (status 0), it asked the client to slow down or come back (408, 429), or it
 * failed on its side (5xx). Everything else (a bad definition, an unknown job, a bad token) is
 * the caller's to handle and is thrown at once.
 *
 * Sleeps grow exponentially with full jitter, so clients cut off by the same restart do not all
 * come back in the same millisecond. The budget (`retryFor`) counts from the first failure of
 * one operation; a success starts the next failure's budget afresh, so an hours-long wait() rides
 * through any number of restarts as long as each one is shorter than the budget.
 */
import { HpcBridgeError } from './errors.js';

export interface RetryOptions {
  /** Seconds to keep retrying one operation after its first transient failure; 0 disables retries. Default 300. */
  retryFor?: number;
  /** First sleep between attempts, in milliseconds (default 250); doubles per attempt. */
  initialDelayMs?: number;
  /** Longest sleep between attempts, in milliseconds (default 10,000). */
  maxDelayMs?: number;
}

export const DEFAULT_RETRY_SECONDS = 300;

export function transient(e: unknown): boolean {
  if (!(e instanceof HpcBridgeError)) return false;
  return e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500;
}

/** Retry state for one operation (a request, or one stream's reconnections). */
export class Backoff {
  private first: number | undefined;
  private attempt = 0;

  constructor(
    private readonly opts: Required<RetryOptions>,
    private readonly what: string,
    private readonly deadline = Infinity,
  ) {}

  /** The operation made progress: the next failure gets the whole budget again. */
  reset(): void {
    this.first = undefined;
    this.attempt = 0;
  }

  /**
   * Called with a failure: returns after the sleep when another attempt is worth it, otherwise
   * throws the error to give to the caller (the original one, or one saying the budget ran out).
   */
  async failed(e: unknown, signal?: AbortSignal): Promise<void> {
    if (!transient(e) || signal?.aborted) throw e;
    const err = e as HpcBridgeError;
    const now = Date.now();
    this.first ??= now;
    this.attempt++;
    const budgetEnd = Math.min(this.first + this.opts.retryFor * 1000, this.deadline);
    const cap = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * 2 ** Math.min(this.attempt - 1, 30));
    const sleep = Math.random() * cap;
    if (this.opts.retryFor <= 0 || now + sleep >= budgetEnd) {
      const why = budgetEnd === this.deadline && this.deadline !== Infinity ? 'the caller\'s deadline passed' : `gave up after retrying for ${Math.round((now - this.first) / 1000)} s (retryFor ${this.opts.retryFor} s)`;
      throw new HpcBridgeError(err.code, `${this.what}: ${err.message} (${this.attempt} attempt${this.attempt === 1 ? '' : 's'}; ${why})`, err.status, err.field, err.problems, this.attempt);
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, sleep);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
    if (signal?.aborted) throw signal.reason ?? e;
  }
}

export function retryDefaults(o: RetryOptions = {}): Required<RetryOptions> {
  const env = Number(process.env.HPC_BRIDGE_RETRY_SECONDS);
  return {
    retryFor: o.retryFor ?? (process.env.HPC_BRIDGE_RETRY_SECONDS !== undefined && Number.isFinite(env) && env >= 0 ? env : DEFAULT_RETRY_SECONDS),
    initialDelayMs: o.initialDelayMs ?? 250,
    maxDelayMs: o.maxDelayMs ?? 10_000,
  };
}
