/**
 * LocalTransport: the daemon runs on the login node itself. Commands are child processes
 * started from an argv (no shell unless argv[0] is one), files are the local filesystem.
 *
 * It mirrors SshTransport's observable behaviour, which the shared contract suite checks:
 *   - a program that cannot be found exits 127 and one that cannot be executed exits 126,
 *     as with `exec` in a remote shell, instead of surfacing spawn's ENOENT;
 *   - a missing working directory is a REMOTE_IO rejection, not an exit status;
 *   - a timeout kills the whole process group (the child is started in its own session, as
 *     sshd does with setsid() for every no-pty session) and rejects with COMMAND_TIMEOUT;
 *   - stat/list/readRange treat ENOENT and ENOTDIR as "absent" (OpenSSH's sftp-server maps
 *     both to SSH_FX_NO_SUCH_FILE).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsc, createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { connect } from 'node:net';
import { Transform, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import { BridgeError } from '../domain/errors.js';
import { checkExecArgs } from './ssh/framing.js';
import { assertRemovable, closedError, ProgressReporter, tempSibling, typeFromMode } from './common.js';
import type { DirEntry, ExecOptions, ExecResult, RemoteStat, StreamHandle, TransferOptions, Transport } from './transport.js';

export interface LocalTransportOptions {
  kind: 'local';
  /**
   * The Unix account commands and file operations run as (src/transport/runAs.ts). Only a
   * daemon running as root can switch; otherwise it must be the daemon's own account.
   */
  runAs?: string;
}

export interface LocalTransportStats {
  execs: number;
  execsInFlight: number;
}

const COPY_CHUNK = 1 << 20;

function ioError(op: string, path: string, e: unknown): BridgeError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why = (e as Error | undefined)?.message ?? String(e);
  return new BridgeError('REMOTE_IO', `${op} ${path} failed: ${why}`, { context: { op, path, errno: code }, cause: e });
}

function isAbsent(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** End a streamed command and everything it started (its own process group). */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}

/**
 * What tar in fetch.sh would store of `path`: its bytes, 'other' for a link or anything not a
 * regular file, undefined when it is absent or unreadable (tar's --ignore-failed-read).
 * O_NOFOLLOW keeps a link a link; O_NONBLOCK keeps a FIFO from blocking the open.
 */
async function readWhole(path: string): Promise<Buffer | 'other' | undefined> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'other';
    if (isAbsent(e) || code === 'EACCES' || code === 'EPERM') return undefined;
    throw ioError('read', path, e);
  }
  try {
    if (!(await fh.stat()).isFile()) return 'other';
    return await fh.readFile();
  } catch (e) {
    throw ioError('read', path, e);
  } finally {
    await fh.close();
  }
}

export class LocalTransport implements Transport {
  readonly id = 'local';
  private closed = false;
  private readonly running = new Map<ChildProcess, (e: BridgeError) => void>();
  private execCount = 0;

  constructor(_opts: LocalTransportOptions = { kind: 'local' }) {}

  stats(): LocalTransportStats {
    return { execs: this.execCount, execsInFlight: this.running.size };
  }

  async stream(argv: readonly string[], onStdout: (chunk: Buffer) => void): Promise<StreamHandle> {
    if (this.closed) throw closedError(this.id);
    checkExecArgs(argv, undefined);
    this.execCount++;
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.on('data', onStdout);
    child.stderr.resume();
    const ended = new Promise<{ exitCode: number | null; signal: string | null; error?: Error }>((resolve) => {
      const done = (error?: Error): void => {
        this.running.delete(child);
        resolve({ exitCode: child.exitCode, signal: child.signalCode, ...(error ? { error } : {}) });
      };
      child.on('error', done);
      child.on('close', () => done());
      this.running.set(child, (e) => {
        killGroup(child.pid);
        done(e);
      });
    });
    return { ended, close: () => killGroup(child.pid) };
  }

  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) throw closedError(this.id);
    checkExecArgs(argv, opts.env);
    if (opts.cwd !== undefined) {
      const st = await fsp.stat(opts.cwd).catch((e: unknown) => e as Error);
      if (st instanceof Error || !st.isDirectory()) {
        const why = st instanceof Error ? st.message : 'not a directory';
        throw new BridgeError('REMOTE_IO', `working directory ${opts.cwd} is not accessible: ${why}`, {
          context: { path: opts.cwd, command: argv },
        });
      }
    }
    this.execCount++;
    const [cmd, ...args] = argv as [string, ...string[]];
    const started = performance.now();

    return new Promise<ExecResult>((resolve, reject) => {
      const child = spawn(cmd, args, {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
        // No stdin to give: /dev/null rather than a pipe. Node's pipes are socketpairs, and bash
        // takes a socket on stdin for "started by sshd" and sources ~/.bashrc even when not
        // interactive, whose output would then be mixed into the command's.
        stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        // Own session and process group, so a timeout can kill the command's children too.
        detached: true,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let settled = false;
      let timer: NodeJS.Timeout | undefined;

      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        this.running.delete(child);
        fn();
      };
      const partial = (): { stdout: string; stderr: string } => ({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });

      this.running.set(child, (e) =>
        settle(() => {
          child.unref();
          child.stdout?.destroy();
          child.stderr?.destroy();
          child.stdin?.destroy();
          reject(e);
        }),
      );

      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => err.push(b));
      if (child.stdin) {
        // A command that exits without reading its stdin makes our write fail with EPIPE;
        // that is the command's business, not an error of the transport.
        child.stdin.on('error', () => {});
        child.stdin.end(opts.stdin);
      }

      child.on('error', (e: NodeJS.ErrnoException) => {
        // spawn() failed: report it the way a shell's `exec` would.
        const status = e.code === 'EACCES' || e.code === 'EISDIR' || e.code === 'ENOEXEC' ? 126 : e.code === 'ENOENT' ? 127 : null;
        settle(() => {
          if (status === null) {
            reject(new BridgeError('INTERNAL', `could not start ${cmd}: ${e.message}`, { context: { command: argv }, cause: e }));
            return;
          }
          resolve({
            exitCode: status,
            signal: null,
            stdout: '',
            stderr: `${cmd}: ${status === 127 ? 'not found' : 'cannot execute'} (${e.code})\n`,
            durationMs: performance.now() - started,
          });
        });
      });

      child.on('close', (code, signal) => {
        settle(() =>
          resolve({ exitCode: code, signal, ...partial(), durationMs: performance.now() - started }),
        );
      });

      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          if (child.pid !== undefined) {
            try {
              process.kill(-child.pid, 'SIGKILL');
            } catch {
              // ESRCH: the group is already gone.
            }
          }
          settle(() =>
            reject(
              new BridgeError('COMMAND_TIMEOUT', `${cmd} did not finish within ${opts.timeoutMs} ms and was killed`, {
                transient: true,
                context: { command: argv, ...partial() },
              }),
            ),
          );
        }, opts.timeoutMs);
      }
    });
  }

  async upload(localPath: string, remotePath: string, opts: TransferOptions = {}): Promise<void> {
    await this.copyVia(localPath, remotePath, opts);
  }

  async download(remotePath: string, localPath: string, opts: TransferOptions = {}): Promise<void> {
    await this.copyVia(remotePath, localPath, opts);
  }

  /** Streamed copy into a temporary sibling of `dst`, then rename: `dst` is never partial. */
  private async copyVia(src: string, dst: string, opts: TransferOptions): Promise<void> {
    if (this.closed) throw closedError(this.id);
    const st = await fsp.stat(src).catch((e: unknown) => {
      throw ioError('read', src, e);
    });
    const progress = new ProgressReporter(st.size, opts.onProgress);
    let done = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        done += chunk.length;
        progress.report(done);
        cb(null, chunk);
      },
    });
    const tmp = tempSibling(dst);
    try {
      await pipeline(
        createReadStream(src, { highWaterMark: COPY_CHUNK }),
        counter,
        createWriteStream(tmp, { flags: 'wx', mode: opts.mode ?? 0o666, highWaterMark: COPY_CHUNK }),
      );
      // The create mode is filtered by the umask; chmod gives exactly what was asked for.
      if (opts.mode !== undefined) await fsp.chmod(tmp, opts.mode);
      await fsp.rename(tmp, dst);
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw e instanceof BridgeError ? e : ioError('copy to', dst, e);
    }
    progress.finish();
  }

  async writeFile(remotePath: string, data: string | Buffer, opts: { mode?: number } = {}): Promise<void> {
    if (this.closed) throw closedError(this.id);
    const tmp = tempSibling(remotePath);
    try {
      const fh = await fsp.open(tmp, 'wx', opts.mode ?? 0o666);
      try {
        await fh.writeFile(data);
        // Small files (job scripts, manifests) are written just before something acts on
        // them; flushing makes "renamed" imply "on disk" after a crash of the login node.
        await fh.sync();
        if (opts.mode !== undefined) await fh.chmod(opts.mode);
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, remotePath);
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw ioError('write', remotePath, e);
    }
  }

  async readRange(remotePath: string, offset: number, length: number): Promise<Buffer | null> {
    if (this.closed) throw closedError(this.id);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(remotePath, 'r');
    } catch (e) {
      if (isAbsent(e)) return null;
      throw ioError('read', remotePath, e);
    }
    try {
      const buf = Buffer.alloc(Math.max(0, length));
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } catch (e) {
      throw ioError('read', remotePath, e);
    } finally {
      await fh.close();
    }
  }

  async readFiles(paths: readonly string[]): Promise<Map<string, Buffer | 'other'>> {
    if (this.closed) throw closedError(this.id);
    const out = new Map<string, Buffer | 'other'>();
    await Promise.all(
      paths.map(async (p) => {
        const got = await readWhole(p);
        if (got !== undefined) out.set(p, got);
      }),
    );
    return out;
  }

  async stat(remotePath: string): Promise<RemoteStat | null> {
    if (this.closed) throw closedError(this.id);
    try {
      const st = await fsp.lstat(remotePath);
      return { type: typeFromMode(st.mode), size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
    } catch (e) {
      if (isAbsent(e)) return null;
      throw ioError('stat', remotePath, e);
    }
  }

  async list(remotePath: string): Promise<DirEntry[] | null> {
    if (this.closed) throw closedError(this.id);
    let names: string[];
    try {
      names = await fsp.readdir(remotePath);
    } catch (e) {
      if (isAbsent(e)) return null;
      throw ioError('list', remotePath, e);
    }
    const entries: DirEntry[] = [];
    for (const name of names.sort()) {
      // lstat each entry: an entry can vanish between readdir and lstat; skip it then.
      const st = await fsp.lstat(`${remotePath}/${name}`).catch(() => null);
      if (st) entries.push({ name, type: typeFromMode(st.mode), size: st.size });
    }
    return entries;
  }

  async mkdirp(remotePath: string, mode?: number): Promise<void> {
    if (this.closed) throw closedError(this.id);
    try {
      await fsp.mkdir(remotePath, { recursive: true, mode: mode ?? 0o777 });
    } catch (e) {
      throw ioError('mkdir', remotePath, e);
    }
  }

  async remove(remotePath: string, opts: { recursive?: boolean } = {}): Promise<void> {
    if (this.closed) throw closedError(this.id);
    assertRemovable(remotePath);
    try {
      if (opts.recursive) {
        await fsp.rm(remotePath, { recursive: true, force: true });
        return;
      }
      const st = await fsp.lstat(remotePath).catch((e: unknown) => {
        if (isAbsent(e)) return null;
        throw e;
      });
      if (!st) return;
      if (st.isDirectory()) await fsp.rmdir(remotePath);
      else await fsp.unlink(remotePath);
    } catch (e) {
      if (isAbsent(e)) return;
      throw ioError('remove', remotePath, e);
    }
  }

  openUnixStream(socketPath: string): Promise<Duplex> {
    if (this.closed) return Promise.reject(closedError(this.id));
    return new Promise((resolve, reject) => {
      const sock = connect(socketPath);
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        resolve(sock);
      });
      sock.once('error', (e) => reject(new BridgeError('REMOTE_IO', `cannot connect to the Unix socket ${socketPath}: ${e.message}`, { transient: true, context: { path: socketPath }, cause: e })));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Running commands are left alone (they are in their own session, like a remote command
    // whose ssh connection dropped); only our wait for them ends, with an "outcome unknown".
    for (const fail of [...this.running.values()]) {
      fail(new BridgeError('CONNECTION_LOST', 'transport closed while the command was running; its outcome is unknown', { transient: true }));
    }
  }
}
