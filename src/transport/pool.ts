/**
 * One transport per (cluster, identity), opened on demand and closed when idle. A gateway with
 * many users holds connections only for identities with work in progress: each connection
 * costs an sshd process and a session slot on the login node, so an idle one is closed after
 * `idleMs` and the next command for that identity opens a new one. While open, each keeps its
 * own channel budget, keepalive, reconnection and backoff (the transport itself).
 */
import type { Duplex } from 'node:stream';
import { BridgeError } from '../domain/errors.js';
import type { DirEntry, ExecOptions, ExecResult, RemoteStat, StreamHandle, TransferOptions, Transport } from './transport.js';

export interface TransportPoolStats {
  /** Identities the pool has handed out so far. */
  identities: number;
  /** Transports open now (an identity with a command running or run within idleMs). */
  open: number;
  /** Transports opened since start (each reopen after an idle close counts). */
  opened: number;
  /** Transports closed because they were idle. */
  idleClosed: number;
}

export class TransportPool {
  readonly #slots = new Map<string, PooledTransport>();
  readonly #counts = { opened: 0, idleClosed: 0 };
  #closed = false;

  constructor(
    private readonly make: (key: string) => Transport,
    private readonly idleMs: number,
  ) {}

  /** The transport of one identity (the same object every time; its connection comes and goes). */
  get(key: string): PooledTransport {
    let t = this.#slots.get(key);
    if (!t) {
      t = new PooledTransport(key, () => this.#open(key), this.idleMs, () => this.#counts.idleClosed++);
      this.#slots.set(key, t);
    }
    return t;
  }

  #open(key: string): Transport {
    if (this.#closed) throw new Error(`transport pool closed (${key})`);
    this.#counts.opened++;
    return this.make(key);
  }

  stats(): TransportPoolStats {
    let open = 0;
    for (const t of this.#slots.values()) if (t.isOpen) open++;
    return { identities: this.#slots.size, open, ...this.#counts };
  }

  /** Per identity: whether it is open now (for metrics and tests). */
  openIdentities(): string[] {
    return [...this.#slots.values()].filter((t) => t.isOpen).map((t) => t.key);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#slots.values()].map((t) => t.close()));
  }
}

/** A Transport whose underlying one is made on first use and closed after idleMs without use. */
export class PooledTransport implements Transport {
  readonly id: string;
  #inner: Transport | null = null;
  #inFlight = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    readonly key: string,
    private readonly open: () => Transport,
    private readonly idleMs: number,
    private readonly onIdleClose: () => void,
  ) {
    this.id = `pool:${key}`;
  }

  get isOpen(): boolean {
    return this.#inner !== null;
  }

  /** The open transport's own statistics (an SshTransport's connection counters), if any. */
  stats(): Record<string, unknown> {
    const s = (this.#inner as { stats?: () => Record<string, unknown> } | null)?.stats?.();
    return { open: this.isOpen, ...(s ?? {}) };
  }

  async #use<T>(fn: (t: Transport) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error(`transport ${this.key} is closed`);
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#inner ??= this.open();
    const inner = this.#inner;
    this.#inFlight++;
    try {
      return await fn(inner);
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0 && !this.#closed) this.#armIdle(inner);
    }
  }

  #armIdle(inner: Transport): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#inFlight > 0 || this.#inner !== inner) return;
      this.#inner = null;
      this.onIdleClose();
      void inner.close().catch(() => undefined);
    }, this.idleMs);
    this.#timer.unref();
  }

  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return this.#use((t) => t.exec(argv, opts));
  }
  upload(localPath: string, remotePath: string, opts?: TransferOptions): Promise<void> {
    return this.#use((t) => t.upload(localPath, remotePath, opts));
  }
  download(remotePath: string, localPath: string, opts?: TransferOptions): Promise<void> {
    return this.#use((t) => t.download(remotePath, localPath, opts));
  }
  writeFile(remotePath: string, data: string | Buffer, opts?: { mode?: number }): Promise<void> {
    return this.#use((t) => t.writeFile(remotePath, data, opts));
  }
  readRange(remotePath: string, offset: number, length: number): Promise<Buffer | null> {
    return this.#use((t) => t.readRange(remotePath, offset, length));
  }
  stat(remotePath: string): Promise<RemoteStat | null> {
    return this.#use((t) => t.stat(remotePath));
  }
  list(remotePath: string): Promise<DirEntry[] | null> {
    return this.#use((t) => t.list(remotePath));
  }
  mkdirp(remotePath: string, mode?: number): Promise<void> {
    return this.#use((t) => t.mkdirp(remotePath, mode));
  }
  remove(remotePath: string, opts?: { recursive?: boolean }): Promise<void> {
    return this.#use((t) => t.remove(remotePath, opts));
  }
  readFiles(paths: readonly string[]): Promise<Map<string, Buffer | 'other'> | undefined> {
    return this.#use(async (t) => t.readFiles?.(paths));
  }
  openUnixStream(socketPath: string): Promise<Duplex> {
    return this.#use((t) => {
      if (!t.openUnixStream) return Promise.reject(new BridgeError('INVALID_CONFIG', `transport ${t.id} cannot open a stream to a Unix socket`));
      return t.openUnixStream(socketPath);
    });
  }

  /** A stream counts as in use until it ends: the connection is never closed as idle under it. */
  stream(argv: readonly string[], onStdout: (chunk: Buffer) => void): Promise<StreamHandle> {
    return new Promise<StreamHandle>((resolve, reject) => {
      this.#use(async (t) => {
        if (!t.stream) throw new BridgeError('INTERNAL', `transport ${this.key} cannot stream a command`);
        const h = await t.stream(argv, onStdout);
        resolve(h);
        await h.ended;
      }).catch(reject);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const inner = this.#inner;
    this.#inner = null;
    await inner?.close();
  }
}
