/**
 * The channel budget: how many SSH session channels (exec channels plus the one long-lived SFTP
 * channel) one connection may have open at once.
 *
 * sshd's MaxSessions (default 10) caps sessions per connection and ssh2 has no client-side
 * limit (mscdex/ssh2#1190), so without this a burst of execs fails with "Channel open
 * failure". A budget equal to MaxSessions is still not enough: ssh2 emits `close` before sshd
 * has released the slot, and a semaphore of 10 against MaxSessions 10 lost 5-9 of 40 opens in
 * measurements against the test cluster's sshd. Hence a default of 6, and a retry on top.
 *
 * Waiters are served in FIFO order so a steady stream of execs cannot starve the SFTP open.
 */
import { BridgeError } from '../../domain/errors.js';

export interface Permit {
  /** Give the slot back. Safe to call more than once; only the first call counts. */
  release(): void;
}

export class ChannelBudget {
  private used = 0;
  private readonly waiters: Array<{ grant: (p: Permit) => void; fail: (e: Error) => void }> = [];
  private closedWith: Error | null = null;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`channel budget must be a positive integer, got ${size}`);
  }

  get inUse(): number {
    return this.used;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  acquire(): Promise<Permit> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.used < this.size) {
      this.used++;
      return Promise.resolve(this.makePermit());
    }
    return new Promise((grant, fail) => this.waiters.push({ grant, fail }));
  }

  /** Reject every waiter (used by Transport.close()); permits already out stay valid. */
  close(err: Error = new BridgeError('INTERNAL', 'transport closed')): void {
    this.closedWith = err;
    for (const w of this.waiters.splice(0)) w.fail(err);
  }

  private makePermit(): Permit {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const next = this.waiters.shift();
        // Hand the slot straight to the next waiter, so `used` never dips and lets a newcomer in.
        if (next) next.grant(this.makePermit());
        else this.used--;
      },
    };
  }
}
