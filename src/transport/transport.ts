/**
 * Transport: how the bridge reaches a cluster's login node. Two implementations share this
 * contract and one test suite (test/contract/transport.contract.ts):
 *   - LocalTransport: child processes and the local filesystem (daemon on the login node);
 *   - SshTransport: one long-lived ssh2 connection per (cluster, identity) (daemon on a gateway).
 *
 * Rules every implementation keeps:
 *   - exec takes an argv, never a shell line; quoting is done once, by src/domain/quote.ts.
 *   - exec resolves with the exit status for any completed command, zero or not. It rejects
 *     only when the outcome is unknown (connection lost, timeout, channel refused) with a
 *     transient BridgeError; a lost connection is never reported as exit code 0.
 *   - Files are written to a temporary name and renamed, so a partial file is never seen
 *     under its final name.
 */
import type { Duplex } from 'node:stream';
import type { ExecResult } from '../domain/adapter.js';

export interface ExecOptions {
  /** Bytes or text written to the command's standard input, then closed. */
  stdin?: string | Buffer;
  /** Working directory on the remote side (created by nobody: it must exist). */
  cwd?: string;
  /** Extra environment variables, set with `env NAME=value` (names are validated). */
  env?: Record<string, string>;
  /** Kill the command and reject with COMMAND_TIMEOUT after this many milliseconds. */
  timeoutMs?: number;
}

export type { ExecResult } from '../domain/adapter.js';

export interface RemoteStat {
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  /** Permission bits (e.g. 0o755). */
  mode: number;
  mtimeMs: number;
}

export interface DirEntry {
  name: string;
  type: RemoteStat['type'];
  size: number;
}

export interface TransferOptions {
  /** Called as bytes move: transferred so far and the total size. */
  onProgress?: (transferred: number, total: number) => void;
  /** Permission bits for the created file. */
  mode?: number;
}

/** A long-running command whose standard output is handed over as it arrives. */
export interface StreamHandle {
  /**
   * Settles (never rejects) when the command has ended or its channel is gone: `error` says why
   * when it was not the command ending by itself (connection lost, transport closed).
   */
  readonly ended: Promise<{ exitCode: number | null; signal: string | null; error?: Error }>;
  /** Close the channel; the remote program ends at its next write. */
  close(): void;
}

export interface Transport {
  /** A human-readable identity, e.g. "ssh:alice@10.99.0.2:2222" or "local". */
  readonly id: string;

  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;

  /** Stream a local file of any size to `remotePath` (via a temporary name, then rename). */
  upload(localPath: string, remotePath: string, opts?: TransferOptions): Promise<void>;
  /** Stream a remote file to `localPath` (via a temporary name, then rename). */
  download(remotePath: string, localPath: string, opts?: TransferOptions): Promise<void>;
  /** Write a small file atomically (temp + rename). */
  writeFile(remotePath: string, data: string | Buffer, opts?: { mode?: number }): Promise<void>;
  /**
   * Read up to `length` bytes from `offset` (for following stdout while a job runs).
   * Returns null if the file does not exist; an empty buffer at or past the end.
   */
  readRange(remotePath: string, offset: number, length: number): Promise<Buffer | null>;
  /** lstat: symlinks are reported as such, never followed. Null if absent. */
  stat(remotePath: string): Promise<RemoteStat | null>;
  /** Entries of a directory (without . and ..), or null if it does not exist. */
  list(remotePath: string): Promise<DirEntry[] | null>;
  /** mkdir -p */
  mkdirp(remotePath: string, mode?: number): Promise<void>;
  /** Remove a file, or a directory tree with `recursive`. Absent paths are not an error. */
  remove(remotePath: string, opts?: { recursive?: boolean }): Promise<void>;

  /**
   * Start a long-running command (the event-log follower) and hand each piece of its stdout to
   * `onStdout` as it arrives; stderr is read and dropped. Rejects when the command could not be
   * started (transient for a lost connection). Optional: without it, nothing is followed.
   */
  stream?(argv: readonly string[], onStdout: (chunk: Buffer) => void): Promise<StreamHandle>;

  /**
   * A byte stream to the Unix socket at `socketPath` on the cluster's side, opened as this
   * transport's account (over SSH: a forwarded stream of the same connection, which sshd opens
   * as the logged-in user). Rejects with a transient BridgeError when it cannot be opened;
   * nothing has been sent then. Optional: not every transport can.
   */
  openUnixStream?(socketPath: string): Promise<Duplex>;

  /**
   * Whole small files (each at most a few MB) read without starting a program, when this
   * transport can: the local one reads them in-process, where fetch.sh would cost four
   * processes per batch. The same answers as parseFetch over fetch.sh: a path's bytes, 'other'
   * when it is not a regular file (never followed), left out when it is absent or unreadable.
   * Resolves undefined when this transport cannot, and the caller runs fetch.sh.
   */
  readFiles?(paths: readonly string[]): Promise<Map<string, Buffer | 'other'> | undefined>;

  /** Close connections; pending operations reject. Idempotent. */
  close(): Promise<void>;
}
