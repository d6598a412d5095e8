/**
 * SshTransport: one long-lived ssh2 connection per cluster identity, shared by every command
 * and file operation of that cluster.
 *
 * What it adds to ssh2, and why (each measured against the test cluster's sshd):
 *   - setNoDelay(true) on every hop: Nagle + delayed ACK otherwise cost ~40 ms per exec (P1);
 *   - a channel budget (./budget.ts) plus a retry of "Channel open failure", because sshd's
 *     MaxSessions is enforced late (P2);
 *   - keepalive, and reconnection with backoff, jitter and a minimum spacing (ssh2 never
 *     reconnects, P3; ./backoff.ts). Reconnection is lazy: the next operation reconnects, so an
 *     idle daemon does not hammer a node that is down;
 *   - host keys checked against known_hosts, never trusted silently (P4; ./knownHosts.ts);
 *   - output framing against chatty rc files (P10/P11; ./framing.ts);
 *   - a command whose connection dropped rejects with CONNECTION_LOST: ssh2 closes such a
 *     channel without an exit status, and "no status" must never read as success (P8).
 */
import { appendFileSync, promises as fsp } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { ClientChannel, Client as SshClient, ConnectConfig, SFTPWrapper } from 'ssh2';
import { BridgeError, isTransient } from '../../domain/errors.js';
import { assertRemovable, closedError, ProgressReporter, tempSibling, typeFromMode } from '../common.js';
import type { DirEntry, ExecOptions, ExecResult, StreamHandle, RemoteStat, TransferOptions, Transport } from '../transport.js';
import { channelRetryDelayMs, DEFAULT_RECONNECT_POLICY, reconnectDelayMs, type ReconnectPolicy } from './backoff.js';
import { ChannelBudget, type Permit } from './budget.js';
import { ExecChannel } from './execChannel.js';
import { buildRemoteCommand, cwdFailure, newMarker } from './framing.js';
import {
  checkHostKey,
  fingerprintSha256,
  hashedKnownHostsLine,
  keyTypeOf,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  type HostKeyVerdict,
  type KnownHostEntry,
} from './knownHosts.js';
import { SSH_DEFAULTS, type SshTransportEvent, type SshTransportOptions } from './options.js';

// ssh2 is CommonJS: only a few names are ESM named exports, so take everything off the default.
const { Client, utils } = ssh2;

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that ssh2 puts on `err.code`. */
const SFTP_EOF = 1;
const SFTP_NO_SUCH_FILE = 2;
const SFTP_NO_CONNECTION = 6;
const SFTP_CONNECTION_LOST = 7;

/** ssh2's own host key algorithms, used to build an exact preference list (see knownHosts.ts). */
const SSH2_HOST_KEY_ALGS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

export interface SshTransportStats {
  connected: boolean;
  /** Successful connections, the first one included. */
  connectionsOpened: number;
  /** Successful connections after the first. */
  reconnects: number;
  connectAttempts: number;
  connectFailures: number;
  /** Connections that ended (lost or closed). */
  disconnects: number;
  /** Exec and SFTP channels opened. */
  channelsOpened: number;
  /** "Channel open failure" answers that were retried. */
  channelOpenRetries: number;
  channelsInUse: number;
  channelWaiters: number;
  execs: number;
}

interface Hop {
  label: string;
  host: string;
  port: number;
  user: string;
  knownHostsPath: string;
  keyName: string;
  privateKeyPath?: string;
  agent?: string | boolean;
}

interface Conn {
  readonly client: SshClient;
  readonly jump: SshClient | null;
  alive: boolean;
  lostError: BridgeError | null;
  readonly onLost: Set<(e: BridgeError) => void>;
  sftp: SFTPWrapper | null;
  sftpOpening: Promise<SFTPWrapper> | null;
  sftpRelease: (() => void) | null;
}

interface PreparedHop {
  hop: Hop;
  known: KnownHostEntry[];
  auth: Pick<ConnectConfig, 'privateKey' | 'passphrase' | 'agent'>;
  serverHostKey: string[];
}

type Callback<T> = (err: Error | null | undefined, value?: T) => void;

function call<T = void>(fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((err, value) => (err ? reject(err) : resolve(value as T)));
  });
}

function sftpCode(e: unknown): number | string | undefined {
  return (e as { code?: number | string } | undefined)?.code;
}

function isNoSuchFile(e: unknown): boolean {
  const c = sftpCode(e);
  return c === SFTP_NO_SUCH_FILE || c === 'ENOENT';
}

export class SshTransport implements Transport {
  readonly id: string;

  // Secrets live in #private fields: util.inspect and JSON.stringify do not show them.
  readonly #passphrase: string | undefined;
  readonly #jumpPassphrase: string | undefined;
  readonly #target: Hop;
  readonly #jump: Hop | null;
  readonly #opts: Required<
    Pick<
      SshTransportOptions,
      | 'loginShell'
      | 'channelOpenRetries'
      | 'channelOpenBackoffMs'
      | 'keepaliveIntervalMs'
      | 'keepaliveCountMax'
      | 'readyTimeoutMs'
      | 'connectAttempts'
      | 'hostKeyPolicy'
      | 'sftpConcurrency'
      | 'sftpChunkSize'
    >
  >;
  readonly #policy: ReconnectPolicy;
  readonly #onEvent: ((e: SshTransportEvent) => void) | undefined;
  readonly #budget: ChannelBudget;

  #conn: Conn | null = null;
  #connecting: Promise<Conn> | null = null;
  #closed = false;
  #failures = 0;
  #lastAttemptAt = -Infinity;
  #everConnected = false;
  readonly #sleeps = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  readonly #counters = {
    connectionsOpened: 0,
    reconnects: 0,
    connectAttempts: 0,
    connectFailures: 0,
    disconnects: 0,
    channelsOpened: 0,
    channelOpenRetries: 0,
    execs: 0,
  };

  constructor(options: SshTransportOptions) {
    const port = options.port ?? SSH_DEFAULTS.port;
    if (!options.privateKeyPath && !options.agent) {
      throw new BridgeError('INVALID_CONFIG', `ssh transport for ${options.user}@${options.host}: set privateKeyPath or agent`, {
        context: { field: 'privateKeyPath' },
      });
    }
    this.#target = {
      label: `${options.host} port ${port}`,
      host: options.host,
      port,
      user: options.user,
      knownHostsPath: options.knownHostsPath,
      keyName: options.hostKeyAlias ?? options.host,
      privateKeyPath: options.privateKeyPath,
      agent: options.agent,
    };
    this.#passphrase = options.passphrase;
    let jumpPart = '';
    if (options.jump) {
      const j = options.jump;
      const ownAuth = j.privateKeyPath !== undefined || j.agent !== undefined;
      const jport = j.port ?? SSH_DEFAULTS.port;
      this.#jump = {
        label: `jump host ${j.host} port ${jport}`,
        host: j.host,
        port: jport,
        user: j.user,
        knownHostsPath: j.knownHostsPath ?? options.knownHostsPath,
        keyName: j.hostKeyAlias ?? j.host,
        privateKeyPath: ownAuth ? j.privateKeyPath : options.privateKeyPath,
        agent: ownAuth ? j.agent : options.agent,
      };
      this.#jumpPassphrase = ownAuth ? j.passphrase : options.passphrase;
      jumpPart = ` via ${j.user}@${j.host}:${jport}`;
    } else {
      this.#jump = null;
      this.#jumpPassphrase = undefined;
    }
    this.id = `ssh:${options.user}@${options.host}:${port}${jumpPart}`;
    this.#opts = {
      loginShell: options.loginShell ?? SSH_DEFAULTS.loginShell,
      channelOpenRetries: options.channelOpenRetries ?? SSH_DEFAULTS.channelOpenRetries,
      channelOpenBackoffMs: options.channelOpenBackoffMs ?? SSH_DEFAULTS.channelOpenBackoffMs,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? SSH_DEFAULTS.keepaliveIntervalMs,
      keepaliveCountMax: options.keepaliveCountMax ?? SSH_DEFAULTS.keepaliveCountMax,
      readyTimeoutMs: options.readyTimeoutMs ?? SSH_DEFAULTS.readyTimeoutMs,
      connectAttempts: options.connectAttempts ?? SSH_DEFAULTS.connectAttempts,
      hostKeyPolicy: options.hostKeyPolicy ?? SSH_DEFAULTS.hostKeyPolicy,
      sftpConcurrency: options.sftpConcurrency ?? SSH_DEFAULTS.sftpConcurrency,
      sftpChunkSize: options.sftpChunkSize ?? SSH_DEFAULTS.sftpChunkSize,
    };
    this.#policy = { ...DEFAULT_RECONNECT_POLICY, ...options.reconnect };
    this.#onEvent = options.onEvent;
    const budget = options.channelBudget ?? SSH_DEFAULTS.channelBudget;
    if (!Number.isInteger(budget) || budget < 2) {
      throw new BridgeError('INVALID_CONFIG', `channelBudget must be an integer >= 2 (the SFTP channel keeps one slot), got ${budget}`, {
        context: { field: 'channelBudget' },
      });
    }
    this.#budget = new ChannelBudget(budget);
  }

  stats(): SshTransportStats {
    return {
      connected: this.#conn?.alive ?? false,
      ...this.#counters,
      channelsInUse: this.#budget.inUse,
      channelWaiters: this.#budget.waiting,
    };
  }

  // ---------------------------------------------------------------------------------------
  // Connection lifecycle

  #emit(e: SshTransportEvent): void {
    try {
      this.#onEvent?.(e);
    } catch {
      // An observer must not break the transport.
    }
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.#sleeps.delete(entry);
          resolve();
        }, ms),
        wake: () => {
          clearTimeout(entry.timer);
          this.#sleeps.delete(entry);
          resolve();
        },
      };
      this.#sleeps.add(entry);
    });
  }

  #ensureConnected(): Promise<Conn> {
    if (this.#closed) return Promise.reject(closedError(this.id));
    if (this.#conn?.alive) return Promise.resolve(this.#conn);
    if (!this.#connecting) {
      this.#connecting = this.#connectWithRetry().finally(() => {
        this.#connecting = null;
      });
    }
    return this.#connecting;
  }

  async #connectWithRetry(): Promise<Conn> {
    for (let attempt = 1; ; attempt++) {
      await this.#sleep(reconnectDelayMs(this.#failures, performance.now() - this.#lastAttemptAt, this.#policy));
      if (this.#closed) throw closedError(this.id);
      this.#lastAttemptAt = performance.now();
      this.#counters.connectAttempts++;
      this.#emit({ type: 'connecting', attempt });
      try {
        const conn = await this.#openConnection();
        if (this.#closed) {
          conn.client.destroy();
          conn.jump?.destroy();
          throw closedError(this.id);
        }
        this.#failures = 0;
        this.#counters.connectionsOpened++;
        if (this.#everConnected) this.#counters.reconnects++;
        this.#emit({ type: 'connected', attempt, reconnect: this.#everConnected });
        this.#everConnected = true;
        this.#conn = conn;
        return conn;
      } catch (e) {
        if (this.#closed) throw closedError(this.id);
        this.#failures++;
        this.#counters.connectFailures++;
        const be = e instanceof BridgeError ? e : new BridgeError('SSH_CONNECT', String(e), { transient: true, cause: e });
        this.#emit({ type: 'connect-failed', attempt, code: be.code, message: be.message, transient: be.transient });
        if (!isTransient(be) || attempt >= this.#opts.connectAttempts) throw be;
      }
    }
  }

  async #openConnection(): Promise<Conn> {
    let jump: SshClient | null = null;
    try {
      let sock: Duplex | undefined;
      const target = await this.#prepareHop(this.#target, this.#passphrase);
      if (this.#jump) {
        jump = await this.#handshake(await this.#prepareHop(this.#jump, this.#jumpPassphrase));
        sock = await this.#forward(jump);
      }
      const client = await this.#handshake(target, sock);
      const conn: Conn = { client, jump, alive: true, lostError: null, onLost: new Set(), sftp: null, sftpOpening: null, sftpRelease: null };
      for (const [c, label] of [
        [client, 'connection'],
        [jump, 'jump host connection'],
      ] as const) {
        if (!c) continue;
        c.on('error', (err: Error) => this.#markLost(conn, `${label} error: ${err.message}`, err));
        c.on('end', () => this.#markLost(conn, `${label} ended by the server`));
        c.on('close', () => this.#markLost(conn, `${label} closed`));
      }
      return conn;
    } catch (e) {
      jump?.destroy();
      throw e;
    }
  }

  #forward(jump: SshClient): Promise<Duplex> {
    const t = this.#target;
    return new Promise((resolve, reject) => {
      try {
        jump.forwardOut('127.0.0.1', 0, t.host, t.port, (err, stream) => {
          if (err) {
            // reason 1 = ADMINISTRATIVELY_PROHIBITED: the bastion forbids forwarding, retrying
            // will not help. Anything else (e.g. target unreachable right now) may pass.
            const reason = (err as { reason?: unknown }).reason;
            reject(
              new BridgeError('SSH_CONNECT', `jump host ${this.#jump?.label} could not open a tunnel to ${t.label}: ${err.message}`, {
                transient: reason !== 1,
                context: { host: t.host, port: t.port },
                cause: err,
              }),
            );
            return;
          }
          resolve(stream);
        });
      } catch (e) {
        reject(new BridgeError('SSH_CONNECT', `jump host connection failed: ${(e as Error).message}`, { transient: true, cause: e }));
      }
    });
  }

  async #loadAuth(hop: Hop, passphrase: string | undefined): Promise<Pick<ConnectConfig, 'privateKey' | 'passphrase' | 'agent'>> {
    const auth: Pick<ConnectConfig, 'privateKey' | 'passphrase' | 'agent'> = {};
    if (hop.privateKeyPath) {
      let raw: Buffer;
      try {
        raw = await fsp.readFile(hop.privateKeyPath);
      } catch (e) {
        throw new BridgeError('SSH_AUTH', `cannot read private key ${hop.privateKeyPath} for ${hop.user}@${hop.label}: ${(e as Error).message}`, {
          context: { path: hop.privateKeyPath, host: hop.host, port: hop.port },
        });
      }
      // Parse here rather than inside ssh2's connect(), which throws a bare "Cannot parse
      // privateKey"; the messages below name the file and never contain the passphrase.
      const parsed = utils.parseKey(raw, passphrase);
      if (parsed instanceof Error) {
        const hint = passphrase === undefined ? '' : ' (is the passphrase right?)';
        throw new BridgeError('SSH_AUTH', `private key ${hop.privateKeyPath} cannot be used: ${parsed.message}${hint}`, {
          context: { path: hop.privateKeyPath, host: hop.host, port: hop.port },
        });
      }
      auth.privateKey = raw;
      if (passphrase !== undefined) auth.passphrase = passphrase;
    }
    if (hop.agent) {
      const sock = hop.agent === true ? process.env.SSH_AUTH_SOCK : hop.agent;
      if (!sock) {
        throw new BridgeError('SSH_AUTH', `ssh-agent requested for ${hop.user}@${hop.label} but SSH_AUTH_SOCK is not set`, {
          context: { host: hop.host, port: hop.port },
        });
      }
      auth.agent = sock;
    }
    return auth;
  }

  async #readKnownHosts(hop: Hop): Promise<KnownHostEntry[]> {
    try {
      return parseKnownHosts(await fsp.readFile(hop.knownHostsPath, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && this.#opts.hostKeyPolicy === 'accept-new') return [];
      throw new BridgeError('SSH_HOST_KEY', `cannot read known_hosts file ${hop.knownHostsPath} to verify ${hop.label}: ${(e as Error).message}`, {
        context: { host: hop.host, port: hop.port, knownHostsPath: hop.knownHostsPath },
      });
    }
  }

  #hostKeyError(hop: Hop, verdict: Exclude<HostKeyVerdict, { ok: true }>, offered: Buffer): BridgeError {
    const fp = fingerprintSha256(offered);
    const type = keyTypeOf(offered);
    const file = hop.knownHostsPath;
    const alias = hop.keyName === hop.host ? '' : ` (looked up as ${hop.keyName})`;
    let message: string;
    if (verdict.reason === 'unknown') {
      message =
        `host key of ${hop.label}${alias} is not known: ${file} has no entry for it. ` +
        `The server offered ${type} key ${fp}. Confirm this fingerprint with the cluster's administrators, ` +
        `then add the key to ${file} (for example the matching line of \`ssh-keyscan -p ${hop.port} ${hop.host}\`).`;
    } else if (verdict.reason === 'changed') {
      message =
        `HOST KEY CHANGED for ${hop.label}${alias}: the server offered ${type} key ${fp}, which matches none of the ` +
        `keys recorded in ${file} (line ${verdict.lines.join(', ')}). The host may have been reinstalled, or someone may be ` +
        `intercepting the connection. Confirm the new fingerprint with the administrators before replacing those lines.`;
    } else {
      message = `host key of ${hop.label}${alias} is revoked in ${file} (line ${verdict.lines.join(', ')}): the server offered ${type} key ${fp}.`;
    }
    return new BridgeError('SSH_HOST_KEY', message, {
      context: { host: hop.host, port: hop.port, knownHostsPath: file, fingerprint: fp, keyType: type, reason: verdict.reason },
    });
  }

  /** Read known_hosts and the key for a hop (files are re-read per attempt: admins fix them live). */
  async #prepareHop(hop: Hop, passphrase: string | undefined): Promise<PreparedHop> {
    const known = await this.#readKnownHosts(hop);
    const auth = await this.#loadAuth(hop, passphrase);
    const preferred = preferredHostKeyAlgorithms(known, hop.keyName, hop.port).filter((a) => SSH2_HOST_KEY_ALGS.includes(a));
    const serverHostKey = [...preferred, ...SSH2_HOST_KEY_ALGS.filter((a) => !preferred.includes(a))];
    return { hop, known, auth, serverHostKey };
  }

  /**
   * Handshake with one hop. Synchronous up to client.connect(), and the files are read before
   * the jump host's tunnel is opened: the tunnel stream reaches ssh2 before the event loop
   * turns, so it cannot end unobserved while we read files.
   */
  #handshake({ hop, known, auth, serverHostKey }: PreparedHop, sock?: Duplex): Promise<SshClient> {
    return new Promise<SshClient>((resolve, reject) => {
      const client = new Client();
      let rejected: BridgeError | null = null; // set by the host key check
      let offered: Buffer | null = null;
      let done = false;
      const fail = (e: BridgeError): void => {
        if (done) return;
        done = true;
        client.destroy();
        reject(e);
      };
      const hostVerifier = (key: Buffer): boolean => {
        offered = key;
        const verdict = checkHostKey(known, hop.keyName, hop.port, key);
        if (verdict.ok) return true;
        if (verdict.reason === 'unknown' && this.#opts.hostKeyPolicy === 'accept-new') {
          try {
            appendFileSync(hop.knownHostsPath, `${hashedKnownHostsLine(hop.keyName, hop.port, key)}\n`, { mode: 0o600 });
            return true;
          } catch (e) {
            rejected = new BridgeError('SSH_HOST_KEY', `cannot record the new host key of ${hop.label} in ${hop.knownHostsPath}: ${(e as Error).message}`, {
              context: { host: hop.host, port: hop.port, knownHostsPath: hop.knownHostsPath, fingerprint: fingerprintSha256(key) },
            });
            return false;
          }
        }
        rejected = this.#hostKeyError(hop, verdict, key);
        return false;
      };

      client.once('ready', () => {
        if (done) return;
        done = true;
        // Nagle + delayed ACK add ~40 ms to every small exec round trip (SSH-AND-DEPS P1).
        client.setNoDelay(true);
        resolve(client);
      });
      // This listener stays for the client's life: ssh2 emits 'error' on it later too, and an
      // EventEmitter without an 'error' listener would crash the daemon.
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        fail(rejected ?? this.#connectError(hop, err, offered));
      });
      client.once('close', () => {
        fail(rejected ?? new BridgeError('SSH_CONNECT', `connection to ${hop.label} closed during the handshake`, { transient: true, context: { host: hop.host, port: hop.port } }));
      });
      try {
        client.connect({
          host: hop.host,
          port: hop.port,
          username: hop.user,
          ...auth,
          ...(sock ? { sock } : {}),
          hostVerifier,
          algorithms: { serverHostKey: serverHostKey as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
          keepaliveInterval: this.#opts.keepaliveIntervalMs,
          keepaliveCountMax: this.#opts.keepaliveCountMax,
          readyTimeout: this.#opts.readyTimeoutMs,
        });
      } catch (e) {
        fail(new BridgeError('SSH_CONNECT', `cannot connect to ${hop.label}: ${(e as Error).message}`, { context: { host: hop.host, port: hop.port }, cause: e }));
      }
    });
  }

  #connectError(hop: Hop, err: Error & { level?: string; code?: string }, offered: Buffer | null): BridgeError {
    const context = { host: hop.host, port: hop.port, user: hop.user, level: err.level };
    const how = [hop.privateKeyPath ? `key ${hop.privateKeyPath}` : null, hop.agent ? 'ssh-agent' : null].filter(Boolean).join(' and ');
    switch (err.level) {
      case 'client-authentication':
        return new BridgeError('SSH_AUTH', `${hop.label} refused authentication for user ${hop.user} with ${how}: ${err.message}`, {
          context,
          cause: err,
        });
      case 'agent':
        return new BridgeError('SSH_AUTH', `ssh-agent failed while authenticating to ${hop.label}: ${err.message}`, { context, cause: err });
      case 'client-timeout':
        return new BridgeError('SSH_CONNECT', `${hop.label} did not complete the SSH handshake within ${this.#opts.readyTimeoutMs} ms`, {
          transient: true,
          context,
          cause: err,
        });
      case 'client-socket':
      case 'client-dns':
        return new BridgeError('SSH_CONNECT', `cannot reach ${hop.label}: ${err.message}`, {
          // A name that does not resolve is configuration; a refused or reset socket may pass.
          transient: err.code !== 'ENOTFOUND',
          context: { ...context, errno: err.code },
          cause: err,
        });
      default: {
        const fp = offered ? ` (host key ${fingerprintSha256(offered)})` : '';
        return new BridgeError('SSH_CONNECT', `SSH handshake with ${hop.label}${fp} failed: ${err.message}`, {
          transient: err.level !== 'handshake' && err.level !== 'protocol',
          context,
          cause: err,
        });
      }
    }
  }

  #markLost(conn: Conn, why: string, cause?: unknown, destroy = true): void {
    if (!conn.alive) return;
    conn.alive = false;
    if (this.#conn === conn) this.#conn = null;
    this.#counters.disconnects++;
    const err = new BridgeError('CONNECTION_LOST', `${this.id}: ${why}; the outcome of operations in flight is unknown`, {
      transient: true,
      cause,
    });
    conn.lostError = err;
    const waiting = [...conn.onLost];
    conn.onLost.clear();
    this.#emit({ type: 'disconnected', reason: why, inFlight: waiting.length });
    for (const fail of waiting) fail(err);
    conn.sftpRelease?.();
    conn.sftp = null;
    // destroy(), not end(): after a keepalive timeout the peer is unreachable and a polite
    // disconnect would sit in the socket buffer.
    if (destroy) {
      conn.client.destroy();
      conn.jump?.destroy();
    } else {
      conn.jump?.end();
    }
  }

  /** Settle with `p`, or reject with CONNECTION_LOST as soon as the connection drops. */
  #guard<T>(conn: Conn, p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!conn.alive) {
        p.catch(() => {});
        reject(conn.lostError ?? closedError(this.id));
        return;
      }
      const onLost = (e: BridgeError): void => reject(e);
      conn.onLost.add(onLost);
      p.then(
        (v) => {
          conn.onLost.delete(onLost);
          resolve(v);
        },
        (e: unknown) => {
          conn.onLost.delete(onLost);
          reject(conn.alive ? e : (conn.lostError ?? e));
        },
      );
    });
  }

  /**
   * Open a session channel, retrying "Channel open failure": sshd can refuse a session even
   * when our budget says a slot is free, because it frees slots after ssh2 reports `close`.
   */
  async #openChannel<T>(conn: Conn, what: string, open: (cb: Callback<T>) => void): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const ch = await this.#guard(
          conn,
          new Promise<T>((resolve, reject) => {
            try {
              open((err, value) => (err ? reject(err) : resolve(value as T)));
            } catch (e) {
              reject(e); // ssh2 throws "Not connected" if the socket went away under us
            }
          }),
        );
        this.#counters.channelsOpened++;
        return ch;
      } catch (e) {
        if (e instanceof BridgeError) throw e;
        if (!conn.alive) throw conn.lostError ?? e;
        if (!(e instanceof Error) || !('reason' in e)) {
          // Not a server refusal (e.g. "Not connected"): treat the connection as gone.
          this.#markLost(conn, `opening an ${what} channel failed: ${(e as Error).message}`, e);
          throw conn.lostError ?? e;
        }
        if (attempt >= this.#opts.channelOpenRetries) {
          throw new BridgeError(
            'CHANNEL_OPEN',
            `${this.id} refused a new ${what} channel ${attempt + 1} times (${e.message}); sshd's MaxSessions may be below channelBudget`,
            { transient: true, cause: e },
          );
        }
        this.#counters.channelOpenRetries++;
        this.#emit({ type: 'channel-retry', attempt: attempt + 1, reason: e.message });
        await this.#sleep(channelRetryDelayMs(attempt, this.#opts.channelOpenBackoffMs));
        if (this.#closed) throw closedError(this.id);
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // forwarded streams

  /**
   * A stream to a Unix socket on the far side, as one channel of this connection (sshd opens
   * the socket as the logged-in user: a daemon that authenticates its peers by uid sees this
   * account). It takes no slot of the channel budget: sshd's MaxSessions counts session
   * channels (exec, SFTP), not forwarded streams, and a slot held until sshd reports the close
   * cost about a second per request. One attempt only: a refusal here is most often a socket
   * that is missing, which retrying does not mend.
   */
  async openUnixStream(socketPath: string): Promise<Duplex> {
    if (this.#closed) throw closedError(this.id);
    const conn = await this.#ensureConnected();
    const ch = await this.#guard(
      conn,
      new Promise<ClientChannel>((resolve, reject) => {
        try {
          conn.client.openssh_forwardOutStreamLocal(socketPath, (err, stream) => (err ? reject(err) : resolve(stream)));
        } catch (e) {
          reject(e);
        }
      }),
    ).catch((e: unknown) => {
      if (e instanceof BridgeError) throw e;
      throw new BridgeError('REMOTE_IO', `${this.id}: could not open the Unix socket ${socketPath} on the cluster: ${(e as Error).message}`, { transient: true, context: { path: socketPath }, cause: e });
    });
    this.#counters.channelsOpened++;
    return ch;
  }

  // ---------------------------------------------------------------------------------------
  // exec

  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.#closed) throw closedError(this.id);
    const marker = newMarker();
    const command = buildRemoteCommand(argv, { cwd: opts.cwd, env: opts.env, loginShell: this.#opts.loginShell }, marker);
    this.#counters.execs++;
    const permit = await this.#budget.acquire();
    let handedOver = false;
    try {
      const conn = await this.#ensureConnected();
      // The recorder is attached inside ssh2's callback, before any await (see execChannel.ts).
      const rec = await this.#openChannel<ExecChannel>(conn, 'exec', (cb) =>
        conn.client.exec(command, (err, ch) => (err ? cb(err) : cb(null, new ExecChannel(ch, marker)))),
      );
      handedOver = true;
      return await this.#runExec(conn, rec, permit, argv, marker, opts);
    } finally {
      if (!handedOver) permit.release();
    }
  }

  /**
   * A streamed command holds one channel (and one slot of the budget) for as long as it runs:
   * the event follower's one long-lived channel of this identity. It ends when the command
   * does, when close() is called, or when the connection drops (`ended` then carries why).
   */
  async stream(argv: readonly string[], onStdout: (chunk: Buffer) => void): Promise<StreamHandle> {
    if (this.#closed) throw closedError(this.id);
    const marker = newMarker();
    const command = buildRemoteCommand(argv, { loginShell: this.#opts.loginShell }, marker);
    this.#counters.execs++;
    const permit = await this.#budget.acquire();
    let conn: Conn;
    let rec: ExecChannel;
    try {
      conn = await this.#ensureConnected();
      const c = conn;
      rec = await this.#openChannel<ExecChannel>(c, 'exec', (cb) => c.client.exec(command, (err, ch) => (err ? cb(err) : cb(null, new ExecChannel(ch, marker, onStdout)))));
    } catch (e) {
      permit.release();
      throw e;
    }
    const ended = new Promise<{ exitCode: number | null; signal: string | null; error?: Error }>((resolve) => {
      let done = false;
      const finish = (error?: Error): void => {
        if (done) return;
        done = true;
        conn.onLost.delete(onLost);
        permit.release();
        resolve({ exitCode: rec.exit?.code ?? null, signal: rec.exit?.signal ?? null, ...(error ? { error } : {}) });
      };
      const onLost = (e: BridgeError): void => finish(e);
      conn.onLost.add(onLost);
      rec.whenClosed(() => finish());
    });
    if (!rec.closed) rec.channel.end();
    return { ended, close: () => rec.channel.close() };
  }

  #runExec(conn: Conn, rec: ExecChannel, permit: Permit, argv: readonly string[], marker: string, opts: ExecOptions): Promise<ExecResult> {
    const started = performance.now();
    const { out, err } = rec;

    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        fn();
      };
      const context = (): Record<string, unknown> => ({
        command: argv,
        stdout: out.output().toString('utf8'),
        stderr: err.output().toString('utf8'),
      });
      // The slot is given back only when sshd has closed the channel (or the connection is
      // gone), not when we stop waiting: after a timeout the session still occupies a slot.
      const channelDone = (): void => {
        conn.onLost.delete(onLost);
        permit.release();
      };

      const finish = (): void =>
        settle(() => {
          const exit = rec.exit;
          if (!exit) {
            reject(
              new BridgeError('CONNECTION_LOST', `${this.id}: the channel of ${argv[0]} closed without an exit status; the command's outcome is unknown`, {
                transient: true,
                context: context(),
              }),
            );
            return;
          }
          if (!out.started) {
            reject(
              new BridgeError(
                'CLUSTER_UNAVAILABLE',
                `${this.id}: the remote shell ended (${exit.code ?? exit.signal}) before running ${argv[0]}; check the account's login shell and its rc files`,
                { context: { ...context(), exitCode: exit.code, signal: exit.signal } },
              ),
            );
            return;
          }
          const stderr = err.output();
          const cwdMsg = opts.cwd !== undefined ? cwdFailure(stderr, marker) : null;
          if (cwdMsg !== null) {
            reject(
              new BridgeError('REMOTE_IO', `working directory ${opts.cwd} is not accessible: ${cwdMsg}`, {
                context: { path: opts.cwd, command: argv },
              }),
            );
            return;
          }
          resolve({
            exitCode: exit.code,
            signal: exit.signal,
            stdout: out.output().toString('utf8'),
            stderr: stderr.toString('utf8'),
            durationMs: performance.now() - started,
          });
        });

      const onLost = (e: BridgeError): void => {
        channelDone();
        // Only a command whose status and both streams' EOFs arrived before the drop is known.
        if (rec.complete) finish();
        else settle(() => reject(new BridgeError(e.code, e.message, { transient: true, context: context(), cause: e.cause })));
      };
      conn.onLost.add(onLost);
      rec.whenClosed(channelDone);
      rec.whenDone(finish);

      if (!rec.closed) {
        if (opts.stdin !== undefined) rec.channel.end(opts.stdin);
        else rec.channel.end();
      }

      if (opts.timeoutMs !== undefined && !settled) {
        timer = setTimeout(() => {
          settle(() =>
            reject(
              new BridgeError('COMMAND_TIMEOUT', `${argv[0]} did not finish within ${opts.timeoutMs} ms on ${this.id} and was killed`, {
                transient: true,
                context: context(),
              }),
            ),
          );
          this.#killRemote(out.pid, () => rec.exit !== null);
          rec.channel.close();
        }, opts.timeoutMs);
      }
    });
  }

  /**
   * Kill a timed-out command's process group. ssh2's Channel.signal() is a no-op once stdin
   * has been ended (it checks `writable`), and OpenSSH before 7.9 ignores signal requests, so
   * the kill runs as a separate command. The PID comes from the framing marker; sshd made it
   * a process-group leader with setsid().
   */
  #killRemote(pid: number | null, finished: () => boolean): void {
    if (pid === null || this.#closed || finished()) return;
    // `kill -KILL -<pgid>` without `--`: dash's kill builtin rejects `--` ("Illegal number")
    // and `-s KILL` followed by a negative pid, but takes this form, as bash and /bin/kill do.
    const script = 'kill -KILL "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null; exit 0';
    this.exec(['sh', '-c', script, 'hpcb-kill', String(pid)], { timeoutMs: 30_000 }).catch(() => {
      // Best effort: the connection may be the reason for the timeout.
    });
  }

  // ---------------------------------------------------------------------------------------
  // SFTP

  #getSftp(conn: Conn): Promise<SFTPWrapper> {
    if (conn.sftp) return Promise.resolve(conn.sftp);
    if (!conn.sftpOpening) {
      conn.sftpOpening = (async () => {
        const permit = await this.#budget.acquire();
        try {
          if (!conn.alive) throw conn.lostError ?? closedError(this.id);
          const sftp = await this.#openChannel<SFTPWrapper>(conn, 'SFTP', (cb) => conn.client.sftp(cb));
          conn.sftp = sftp;
          // The SFTP channel holds its slot for as long as it lives (or the connection does).
          const release = (): void => {
            if (conn.sftp === sftp) conn.sftp = null;
            permit.release();
          };
          conn.sftpRelease = release;
          sftp.on('close', release);
          sftp.on('error', () => {});
          return sftp;
        } catch (e) {
          permit.release();
          throw e;
        }
      })().finally(() => {
        conn.sftpOpening = null;
      });
    }
    return conn.sftpOpening;
  }

  async #sftpOp<T>(fn: (sftp: SFTPWrapper, conn: Conn) => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError(this.id);
    const conn = await this.#ensureConnected();
    const sftp = await this.#getSftp(conn);
    return this.#guard(conn, fn(sftp, conn));
  }

  #ioError(op: string, path: string, e: unknown): BridgeError {
    if (e instanceof BridgeError) return e;
    const code = sftpCode(e);
    if (code === SFTP_NO_CONNECTION || code === SFTP_CONNECTION_LOST || (e as Error)?.message === 'No response from server') {
      // The SFTP channel (not necessarily the connection) went away under the operation.
      return new BridgeError('CONNECTION_LOST', `${op} ${path} on ${this.id}: the SFTP channel closed; the outcome is unknown`, {
        transient: true,
        context: { op, path },
        cause: e,
      });
    }
    return new BridgeError('REMOTE_IO', `${op} ${path} on ${this.id} failed: ${(e as Error)?.message ?? String(e)}`, {
      context: { op, path, ...(typeof code === 'number' ? { sftpStatus: code } : { errno: code }) },
      cause: e,
    });
  }

  /** Best-effort removal of a temporary after a failure (the channel may be gone already). */
  #discard(sftp: SFTPWrapper, path: string): void {
    try {
      sftp.unlink(path, () => {});
    } catch {
      // Left behind: a hidden *.part file that staging cleanup may remove later.
    }
  }

  /**
   * Move `from` over `to`. Plain SFTPv3 rename refuses an existing target, so prefer
   * OpenSSH's posix-rename extension (atomic replace). Without it, remove then rename: readers
   * may briefly see no file, but never a partial one.
   */
  async #renameOver(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
    const viaExtension = await new Promise<boolean>((resolve, reject) => {
      try {
        sftp.ext_openssh_rename(from, to, (err) => (err ? reject(err) : resolve(true)));
      } catch {
        resolve(false); // ssh2 throws synchronously when the server lacks the extension
      }
    });
    if (viaExtension) return;
    await call((cb) => sftp.unlink(to, cb)).catch((e: unknown) => {
      if (!isNoSuchFile(e)) throw e;
    });
    await call((cb) => sftp.rename(from, to, cb));
  }

  async upload(localPath: string, remotePath: string, opts: TransferOptions = {}): Promise<void> {
    if (this.#closed) throw closedError(this.id);
    const st = await fsp.stat(localPath).catch((e: unknown) => {
      throw this.#ioError('upload from local', localPath, e);
    });
    const progress = new ProgressReporter(st.size, opts.onProgress);
    await this.#sftpOp(async (sftp) => {
      const tmp = tempSibling(remotePath);
      try {
        await call((cb) =>
          sftp.fastPut(
            localPath,
            tmp,
            {
              concurrency: this.#opts.sftpConcurrency,
              chunkSize: this.#opts.sftpChunkSize,
              step: (done) => progress.report(done),
              ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
            },
            cb,
          ),
        );
        // The open() mode is filtered by sftp-server's umask; chmod sets exactly what was asked.
        if (opts.mode !== undefined) await call((cb) => sftp.chmod(tmp, opts.mode as number, cb));
        await this.#renameOver(sftp, tmp, remotePath);
      } catch (e) {
        this.#discard(sftp, tmp);
        throw this.#ioError('upload to', remotePath, e);
      }
    });
    progress.finish();
  }

  async download(remotePath: string, localPath: string, opts: TransferOptions = {}): Promise<void> {
    if (this.#closed) throw closedError(this.id);
    let progress: ProgressReporter | null = null;
    await this.#sftpOp(async (sftp) => {
      const st = await call<{ size: number }>((cb) => sftp.stat(remotePath, cb)).catch((e: unknown) => {
        throw this.#ioError('download', remotePath, e);
      });
      const p = (progress = new ProgressReporter(st.size, opts.onProgress));
      const tmp = tempSibling(localPath);
      try {
        await call((cb) =>
          sftp.fastGet(
            remotePath,
            tmp,
            {
              concurrency: this.#opts.sftpConcurrency,
              chunkSize: this.#opts.sftpChunkSize,
              fileSize: st.size,
              step: (done) => p.report(done),
            },
            cb,
          ),
        );
        if (opts.mode !== undefined) await fsp.chmod(tmp, opts.mode);
        await fsp.rename(tmp, localPath);
      } catch (e) {
        await fsp.rm(tmp, { force: true }).catch(() => {});
        throw this.#ioError('download', remotePath, e);
      }
    });
    (progress as ProgressReporter | null)?.finish();
  }

  async writeFile(remotePath: string, data: string | Buffer, opts: { mode?: number } = {}): Promise<void> {
    await this.#sftpOp(async (sftp) => {
      const tmp = tempSibling(remotePath);
      try {
        await call((cb) => sftp.writeFile(tmp, data, opts.mode !== undefined ? { mode: opts.mode } : {}, cb));
        if (opts.mode !== undefined) await call((cb) => sftp.chmod(tmp, opts.mode as number, cb));
        await this.#renameOver(sftp, tmp, remotePath);
      } catch (e) {
        this.#discard(sftp, tmp);
        throw this.#ioError('write', remotePath, e);
      }
    });
  }

  async readRange(remotePath: string, offset: number, length: number): Promise<Buffer | null> {
    return this.#sftpOp(async (sftp) => {
      let handle: Buffer;
      try {
        handle = await call<Buffer>((cb) => sftp.open(remotePath, 'r', cb));
      } catch (e) {
        if (isNoSuchFile(e)) return null;
        throw this.#ioError('read', remotePath, e);
      }
      try {
        const buf = Buffer.alloc(Math.max(0, length));
        let got = 0;
        while (got < length) {
          // A server returns at most its maximum read length per request (256 KiB for
          // OpenSSH), so loop; EOF comes back as an error with status SSH_FX_EOF.
          const n = await new Promise<number>((resolve, reject) => {
            sftp.read(handle, buf, got, length - got, offset + got, (err, bytesRead) => {
              if (err && sftpCode(err) !== SFTP_EOF) reject(err);
              else resolve(err ? 0 : bytesRead);
            });
          });
          if (n === 0) break;
          got += n;
        }
        return buf.subarray(0, got);
      } catch (e) {
        throw this.#ioError('read', remotePath, e);
      } finally {
        try {
          sftp.close(handle, () => {});
        } catch {
          // The channel is gone; so is the handle.
        }
      }
    });
  }

  async stat(remotePath: string): Promise<RemoteStat | null> {
    return this.#sftpOp(async (sftp) => {
      try {
        const a = await call<{ mode: number; size: number; mtime: number }>((cb) => sftp.lstat(remotePath, cb));
        // SFTPv3 carries whole seconds only.
        return { type: typeFromMode(a.mode), size: a.size, mode: a.mode & 0o7777, mtimeMs: a.mtime * 1000 };
      } catch (e) {
        if (isNoSuchFile(e)) return null;
        throw this.#ioError('stat', remotePath, e);
      }
    });
  }

  async list(remotePath: string): Promise<DirEntry[] | null> {
    return this.#sftpOp(async (sftp) => {
      try {
        // sftp-server fills readdir attributes from lstat, so symlinks show as symlinks.
        const entries = await call<Array<{ filename: string; attrs: { mode: number; size: number } }>>((cb) => sftp.readdir(remotePath, cb));
        return entries
          .filter((e) => e.filename !== '.' && e.filename !== '..')
          .map((e) => ({ name: e.filename, type: typeFromMode(e.attrs.mode), size: e.attrs.size }))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      } catch (e) {
        if (isNoSuchFile(e)) return null;
        throw this.#ioError('list', remotePath, e);
      }
    });
  }

  async mkdirp(remotePath: string, mode?: number): Promise<void> {
    await this.#sftpOp(async (sftp) => {
      const isDir = async (p: string): Promise<boolean | null> => {
        try {
          // stat, not lstat: like mkdir -p, a symlink to a directory is fine.
          const a = await call<{ mode: number }>((cb) => sftp.stat(p, cb));
          return typeFromMode(a.mode) === 'directory';
        } catch (e) {
          if (isNoSuchFile(e)) return null;
          throw e;
        }
      };
      const make = async (p: string): Promise<void> => {
        const state = await isDir(p);
        if (state === true) return;
        if (state === false) throw new Error(`${p} exists and is not a directory`);
        const parent = p.replace(/\/+[^/]*\/*$/, '') || (p.startsWith('/') ? '/' : '.');
        if (parent !== p && parent !== '.' && parent !== '/') await make(parent);
        try {
          await call((cb) => sftp.mkdir(p, mode !== undefined ? { mode } : {}, cb));
        } catch (e) {
          // Lost a race with another creator: fine if it is a directory now.
          if ((await isDir(p)) !== true) throw e;
        }
      };
      try {
        await make(remotePath.replace(/\/+$/, '') || '/');
      } catch (e) {
        throw this.#ioError('mkdir', remotePath, e);
      }
    });
  }

  async remove(remotePath: string, opts: { recursive?: boolean } = {}): Promise<void> {
    assertRemovable(remotePath);
    if (opts.recursive) {
      const r = await this.exec(['rm', '-rf', '--', remotePath]);
      if (r.exitCode !== 0) {
        throw new BridgeError('REMOTE_IO', `remove ${remotePath} on ${this.id} failed: ${r.stderr.trim() || `exit ${r.exitCode ?? r.signal}`}`, {
          context: { op: 'remove', path: remotePath, exitCode: r.exitCode, stderr: r.stderr },
        });
      }
      return;
    }
    await this.#sftpOp(async (sftp) => {
      try {
        const a = await call<{ mode: number }>((cb) => sftp.lstat(remotePath, cb));
        if (typeFromMode(a.mode) === 'directory') await call((cb) => sftp.rmdir(remotePath, cb));
        else await call((cb) => sftp.unlink(remotePath, cb));
      } catch (e) {
        if (isNoSuchFile(e)) return;
        throw this.#ioError('remove', remotePath, e);
      }
    });
  }

  // ---------------------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#budget.close(closedError(this.id));
    for (const s of [...this.#sleeps]) s.wake();
    const conn = this.#conn;
    if (!conn) return;
    const closedEvent = new Promise<void>((resolve) => {
      conn.client.once('close', () => resolve());
      setTimeout(resolve, 1000).unref();
    });
    // Politely first (sends SSH_MSG_DISCONNECT), then fail whatever is still waiting.
    conn.client.end();
    this.#markLost(conn, 'transport closed by the bridge', undefined, false);
    await closedEvent;
  }
}
