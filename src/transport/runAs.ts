/**
 * RunAsTransport: the local machine, but every command and every file operation runs as one
 * other Unix account. A daemon running as root uses it for a `direct` cluster so that a user's
 * job, its directory and everything the bridge reads back belong to that user's own account,
 * never to root (and never to another user).
 *
 * Each operation is a child process started through util-linux `setpriv` with the account's
 * uid, gid and supplementary groups. File operations therefore have exactly the account's
 * rights: reading an output follows the user's own symlinks with the user's permissions, so a
 * link planted in a job directory can never make the daemon read a file the user could not.
 *
 * The child's environment is rebuilt from scratch (`env -i`): nothing of the daemon's own
 * environment reaches a user's job.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BridgeError } from '../domain/errors.js';
import { assertRemovable, closedError, ProgressReporter, tempSibling, typeFromMode } from './common.js';
import { LocalTransport } from './local.js';
import { checkExecArgs } from './ssh/framing.js';
import type { DirEntry, ExecOptions, ExecResult, RemoteStat, StreamHandle, TransferOptions, Transport } from './transport.js';

export interface UnixAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * Found accounts are remembered for a minute: a burst of submissions asks for the same few
 * accounts many times, and each look-up is a process. A missing account is asked again at once.
 */
const FOUND_TTL_MS = 60_000;
const found = new Map<string, { account: UnixAccount; at: number }>();

/** The passwd entry of `name` through NSS (files, LDAP, ...), or undefined when there is none. */
export function lookupAccount(name: string): UnixAccount | undefined {
  const hit = found.get(name);
  if (hit && Date.now() - hit.at < FOUND_TTL_MS) return hit.account;
  const r = spawnSync('getent', ['passwd', '--', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const f = r.stdout.split('\n')[0]!.split(':');
  if (f.length < 7 || f[0] !== name) return undefined;
  const account = { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
  found.set(name, { account, at: Date.now() });
  return account;
}

/** The daemon is root: the one case in which it can (and must) switch accounts. */
export function daemonIsRoot(): boolean {
  return process.getuid?.() === 0;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** ENOENT and ENOTDIR, as coreutils says them under LC_ALL=C: the path is "absent". */
const ABSENT_RE = /No such file or directory|Not a directory/;
const ABSENT_EXIT = 3;

/** Small programs run as the account; the paths are arguments, never pasted into the text. */
const PROGRAMS = {
  write: 'umask 077; cat > "$2" && chmod "$3" "$2" && sync -- "$2" && mv -f -- "$2" "$1" || { rc=$?; rm -f -- "$2"; exit "$rc"; }',
  upload: 'umask 077; cat > "$2" && { [ -z "$3" ] || chmod "$3" "$2"; } && mv -f -- "$2" "$1" || { rc=$?; rm -f -- "$2"; exit "$rc"; }',
  read: `[ -e "$1" ] || exit ${ABSENT_EXIT}; exec dd if="$1" bs=65536 iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none`,
  cat: 'exec cat -- "$1"',
  stat: 'exec stat -c "%f %s %.3Y" -- "$1"',
  list: `[ -d "$1" ] || exit ${ABSENT_EXIT}; exec find "$1" -mindepth 1 -maxdepth 1 -printf "%f\\0%y\\0%s\\0"`,
  mkdir: 'umask 077; mkdir -p -m "$2" -- "$1" && [ -d "$1" ]',
  remove: 'if [ "$2" = r ]; then exec rm -rf -- "$1"; elif [ -d "$1" ] && [ ! -L "$1" ]; then exec rmdir -- "$1"; else exec rm -f -- "$1"; fi',
} as const;

interface Ran {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export class RunAsTransport implements Transport {
  readonly id: string;
  private readonly inner = new LocalTransport();
  private closed = false;

  constructor(readonly account: UnixAccount) {
    this.id = `local:${account.name}`;
  }

  /** The environment a command of this account starts with (the daemon's own is not passed on). */
  private envArgs(extra: Record<string, string> = {}): string[] {
    const a = this.account;
    const env: Record<string, string> = { PATH, HOME: a.home, USER: a.name, LOGNAME: a.name, SHELL: '/bin/sh', LC_ALL: 'C', ...extra };
    return Object.entries(env).map(([k, v]) => `${k}=${v}`);
  }

  private prefix(extra?: Record<string, string>): string[] {
    const a = this.account;
    return ['setpriv', `--reuid=${a.uid}`, `--regid=${a.gid}`, '--init-groups', '--', 'env', '-i', ...this.envArgs(extra)];
  }

  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) throw closedError(this.id);
    checkExecArgs(argv, opts.env);
    // `env` takes a first word with "=" for one more variable; no command of the bridge has one.
    if (argv[0] === undefined || argv[0].includes('=')) {
      throw new BridgeError('INTERNAL', `cannot run ${JSON.stringify(argv[0])} as ${this.account.name}`, { context: { command: argv } });
    }
    const { env, ...rest } = opts;
    return this.inner.exec([...this.prefix(env), ...argv], rest);
  }

  stream(argv: readonly string[], onStdout: (chunk: Buffer) => void): Promise<StreamHandle> {
    if (this.closed) return Promise.reject(closedError(this.id));
    checkExecArgs(argv, undefined);
    return this.inner.stream([...this.prefix(), ...argv], onStdout);
  }

  /** One program as the account, with optional streamed stdin/stdout. */
  private run(program: keyof typeof PROGRAMS, args: string[], io: { stdin?: Readable | Buffer; stdout?: Writable } = {}): Promise<Ran> {
    if (this.closed) return Promise.reject(closedError(this.id));
    return new Promise<Ran>((resolve, reject) => {
      const [cmd, ...rest] = [...this.prefix(), 'sh', '-c', PROGRAMS[program], `hpcb-${program}`, ...args] as [string, ...string[]];
      const child = spawn(cmd, rest, { stdio: [io.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      const sink = io.stdout ?? new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) });
      const done = pipeline(child.stdout!, sink);
      if (io.stdin !== undefined) {
        child.stdin!.on('error', () => {});
        if (Buffer.isBuffer(io.stdin)) child.stdin!.end(io.stdin);
        else io.stdin.pipe(child.stdin!);
      }
      child.on('error', reject);
      child.on('close', (code) => {
        done.then(
          () => resolve({ code, stdout: Buffer.concat(out), stderr: err.trim() }),
          (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
        );
      });
    });
  }

  private fail(op: string, path: string, r: Ran): BridgeError {
    return new BridgeError('REMOTE_IO', `${op} ${path} as ${this.account.name} failed: ${r.stderr || `exit status ${r.code}`}`, {
      context: { op, path, account: this.account.name, exitCode: r.code },
    });
  }

  async upload(localPath: string, remotePath: string, opts: TransferOptions = {}): Promise<void> {
    const st = await fsp.stat(localPath).catch((e: unknown) => {
      throw new BridgeError('REMOTE_IO', `read ${localPath} failed: ${(e as Error).message}`, { cause: e });
    });
    const progress = new ProgressReporter(st.size, opts.onProgress);
    let n = 0;
    const counted = createReadStream(localPath).pipe(
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          n += chunk.length;
          progress.report(n);
          cb(null, chunk);
        },
      }),
    );
    const mode = opts.mode === undefined ? '' : opts.mode.toString(8);
    const r = await this.run('upload', [remotePath, tempSibling(remotePath), mode], { stdin: counted });
    if (r.code !== 0) throw this.fail('copy to', remotePath, r);
    progress.finish();
  }

  async download(remotePath: string, localPath: string, opts: TransferOptions = {}): Promise<void> {
    const size = (await this.stat(remotePath))?.size ?? 0;
    const progress = new ProgressReporter(size, opts.onProgress);
    const tmp = tempSibling(localPath);
    let n = 0;
    const file = createWriteStream(tmp, { flags: 'wx', mode: opts.mode ?? 0o600 });
    const counter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        n += chunk.length;
        progress.report(n);
        cb(null, chunk);
      },
    });
    const written = pipeline(counter, file);
    try {
      const r = await this.run('cat', [remotePath], { stdout: counter });
      await written;
      if (r.code !== 0) throw this.fail('read', remotePath, r);
      await fsp.rename(tmp, localPath);
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw e;
    }
    progress.finish();
  }

  async writeFile(remotePath: string, data: string | Buffer, opts: { mode?: number } = {}): Promise<void> {
    const mode = (opts.mode ?? 0o600).toString(8);
    const r = await this.run('write', [remotePath, tempSibling(remotePath), mode], { stdin: Buffer.from(data) });
    if (r.code !== 0) throw this.fail('write', remotePath, r);
  }

  async readRange(remotePath: string, offset: number, length: number): Promise<Buffer | null> {
    const r = await this.run('read', [remotePath, String(Math.max(0, offset)), String(Math.max(0, length))]);
    if (r.code === ABSENT_EXIT && r.stderr === '') return null;
    if (r.code !== 0) throw this.fail('read', remotePath, r);
    return r.stdout;
  }

  async stat(remotePath: string): Promise<RemoteStat | null> {
    const r = await this.run('stat', [remotePath]);
    if (r.code !== 0) {
      if (ABSENT_RE.test(r.stderr)) return null;
      throw this.fail('stat', remotePath, r);
    }
    const [mode, size, mtime] = r.stdout.toString().trim().split(' ') as [string, string, string];
    const raw = parseInt(mode, 16);
    return { type: typeFromMode(raw), size: Number(size), mode: raw & 0o7777, mtimeMs: Math.round(Number(mtime) * 1000) };
  }

  async list(remotePath: string): Promise<DirEntry[] | null> {
    const r = await this.run('list', [remotePath]);
    if (r.code === ABSENT_EXIT && r.stderr === '') return null;
    if (r.code !== 0) throw this.fail('list', remotePath, r);
    const f = r.stdout.toString().split('\0');
    const entries: DirEntry[] = [];
    for (let i = 0; i + 2 < f.length; i += 3) {
      entries.push({ name: f[i]!, type: FIND_TYPES[f[i + 1]!] ?? 'other', size: Number(f[i + 2]) });
    }
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async mkdirp(remotePath: string, mode?: number): Promise<void> {
    const r = await this.run('mkdir', [remotePath, (mode ?? 0o700).toString(8)]);
    if (r.code !== 0) throw this.fail('mkdir', remotePath, r);
  }

  async remove(remotePath: string, opts: { recursive?: boolean } = {}): Promise<void> {
    assertRemovable(remotePath);
    const r = await this.run('remove', [remotePath, opts.recursive ? 'r' : '']);
    if (r.code !== 0 && !ABSENT_RE.test(r.stderr)) throw this.fail('remove', remotePath, r);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inner.close();
  }
}

const FIND_TYPES: Record<string, RemoteStat['type']> = { f: 'file', d: 'directory', l: 'symlink' };
