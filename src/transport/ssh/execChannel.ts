/**
 * Records everything an exec channel reports, from the moment ssh2 hands it over.
 *
 * The listeners must be attached synchronously inside ssh2's exec callback: ssh2 parses all
 * packets of one TCP read in a single loop, so for a fast command CHANNEL_SUCCESS (which runs
 * the callback), the output, `exit-status` and CHANNEL_CLOSE can arrive together. Data waits in
 * the stream's buffer, but the 'exit' event is emitted once and lost if nobody listens yet, and
 * a command that exited 0 would then look like one without a status. (Seen on the test
 * cluster for `true` through a jump host and for `kill -TERM $$`.)
 */
import type { ClientChannel } from 'ssh2';
import { FramedStream } from './framing.js';

export class ExecChannel {
  readonly out: FramedStream;
  readonly err: FramedStream;
  exit: { code: number | null; signal: string | null } | null = null;
  outEnded = false;
  errEnded = false;
  closed = false;
  private readonly onClose: Array<() => void> = [];
  private readonly onDone: Array<() => void> = [];

  constructor(readonly channel: ClientChannel, marker: string, onStdout?: (b: Buffer) => void) {
    this.out = new FramedStream(marker, true);
    this.out.listener = onStdout;
    this.err = new FramedStream(marker, false);
    // Always drain both streams: an unread stream stops the channel's flow control.
    channel.on('data', (b: Buffer) => this.out.push(b));
    channel.stderr.on('data', (b: Buffer) => this.err.push(b));
    channel.on('end', () => {
      this.outEnded = true;
    });
    channel.stderr.on('end', () => {
      this.errEnded = true;
      this.check();
    });
    channel.on('exit', (code: number | null, signal?: string) => {
      this.exit = { code: typeof code === 'number' ? code : null, signal: signal ?? null };
    });
    channel.on('error', () => {
      // Channel errors are followed by 'close', which decides.
    });
    channel.on('close', () => {
      this.closed = true;
      for (const f of this.onClose.splice(0)) f();
      this.check();
    });
  }

  /** Closed, and both streams fully read (ssh2 emits close after stdout's end, not stderr's). */
  get done(): boolean {
    return this.closed && (this.errEnded || !this.channel.stderr.readable);
  }

  /** Everything the command said arrived before the connection could drop. */
  get complete(): boolean {
    return this.exit !== null && this.outEnded && this.errEnded;
  }

  whenClosed(f: () => void): void {
    if (this.closed) f();
    else this.onClose.push(f);
  }

  whenDone(f: () => void): void {
    if (this.done) f();
    else this.onDone.push(f);
  }

  private check(): void {
    if (this.done) for (const f of this.onDone.splice(0)) f();
  }
}
