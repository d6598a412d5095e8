/**
 * How an argv becomes the one string an SSH "exec" request carries, and how the command's own
 * output is cut out of what comes back.
 *
 * sshd runs the string with the account's shell (`$SHELL -c`). Before our command runs, that
 * shell (Debian's bash sources ~/.bashrc for ssh commands) and, with `loginShell`, `bash -l`
 * (/etc/profile, ~/.bash_profile, module systems) may print anything to stdout or stderr, with
 * or without a trailing newline. Scheduler output parsed out of such a stream would be wrong.
 *
 * So the script first prints a random marker line on both streams; everything up to and
 * including it is noise and is dropped. The stdout marker also carries `$$`, which after the
 * final `exec` is the command's own PID and, because sshd calls setsid() for every no-pty
 * session, its process-group id: that is what a timeout kills.
 *
 * The command is started with `exec`, so nothing of ours or of the rc files runs after it:
 * bash runs neither EXIT traps nor ~/.bash_logout across exec (checked with bash 5.2), so no
 * trailing noise is possible and no end marker is needed. `exec` also keeps the exit status
 * honest: a command killed by SIGTERM reaches sshd as `exit-signal TERM`, not as a shell's 143.
 * The price is that argv[0] must be a program, not a shell function or builtin, exactly as
 * with LocalTransport's spawn; call `bash -lc '…'` explicitly to use e.g. `module`.
 *
 * The account's shell must be POSIX-like (sh, bash, ksh, zsh); csh-family shells are not
 * supported.
 */
import { randomBytes } from 'node:crypto';
import { BridgeError } from '../../domain/errors.js';
import { isValidEnvName, shellQuote, shellJoin } from '../../domain/quote.js';

export interface FrameOptions {
  cwd?: string;
  env?: Record<string, string>;
  loginShell?: boolean;
}

export function newMarker(): string {
  return `hpcb-${randomBytes(12).toString('hex')}`;
}

/** Validate argv and env names the same way for every transport. */
export function checkExecArgs(argv: readonly string[], env: Record<string, string> | undefined): void {
  if (argv.length === 0 || argv[0] === '') {
    throw new BridgeError('INVALID_DEFINITION', 'exec needs a non-empty argv', { context: { field: 'argv' } });
  }
  for (const name of Object.keys(env ?? {})) {
    if (!isValidEnvName(name)) {
      throw new BridgeError('INVALID_DEFINITION', `invalid environment variable name ${JSON.stringify(name)}`, {
        context: { field: `env.${name}` },
      });
    }
  }
}

export function buildRemoteCommand(argv: readonly string[], opts: FrameOptions, marker: string): string {
  checkExecArgs(argv, opts.env);
  // `command printf` rather than `printf`: an rc file may define a printf function.
  const parts = [
    `command printf '%s:%s\\n' ${marker} "$$"`,
    `command printf '%s\\n' ${marker} >&2`,
  ];
  if (opts.cwd !== undefined) {
    // A missing working directory must not look like the command failing with status 1, so it
    // leaves its own marker; the shell's message (missing vs. permission denied) is kept.
    parts.push(`cd -- ${shellQuote(opts.cwd)} || { command printf '%s\\n' ${marker}!cwd >&2; exit 1; }`);
  }
  for (const [name, value] of Object.entries(opts.env ?? {})) {
    parts.push(`export ${name}=${shellQuote(value)}`);
  }
  // No `--` after exec: dash treats it as the program name.
  parts.push(`exec ${shellJoin(argv)}`);
  const script = parts.join('; ');
  return opts.loginShell ? `exec bash -lc ${shellQuote(script)}` : script;
}

/**
 * Collects one output stream and drops everything up to the marker line. Incremental, so the
 * PID is known while the command is still running.
 */
export class FramedStream {
  private pre: Buffer[] = [];
  private preLen = 0;
  private body: Buffer[] = [];
  private found = false;
  pid: number | null = null;
  /** Set for a streamed command: its output goes here as it arrives and is not kept. */
  listener: ((b: Buffer) => void) | undefined;

  constructor(private readonly marker: string, private readonly withPid: boolean) {}

  get started(): boolean {
    return this.found;
  }

  push(chunk: Buffer): void {
    if (this.found) {
      this.keep(chunk);
      return;
    }
    this.pre.push(chunk);
    this.preLen += chunk.length;
    const all = Buffer.concat(this.pre, this.preLen);
    const head = Buffer.from(this.withPid ? `${this.marker}:` : `${this.marker}\n`, 'latin1');
    const at = all.indexOf(head);
    if (at < 0) {
      // Keep the buffer compact; the noise itself is never returned when the marker shows up.
      this.pre = [all];
      return;
    }
    let rest: Buffer;
    if (this.withPid) {
      const nl = all.indexOf(0x0a, at + head.length);
      if (nl < 0) {
        this.pre = [all];
        return; // the PID line is split across chunks
      }
      const pid = Number(all.subarray(at + head.length, nl).toString('latin1'));
      this.pid = Number.isInteger(pid) && pid > 1 ? pid : null;
      rest = all.subarray(nl + 1);
    } else {
      rest = all.subarray(at + head.length);
    }
    this.found = true;
    this.pre = [];
    this.preLen = 0;
    if (rest.length > 0) this.keep(rest);
  }

  private keep(b: Buffer): void {
    if (this.listener) this.listener(b);
    else this.body.push(b);
  }

  /** The command's output, or everything received if the marker never appeared. */
  output(): Buffer {
    return this.found ? Buffer.concat(this.body) : Buffer.concat(this.pre, this.preLen);
  }
}

/** If the cwd step failed, the shell's message before our `!cwd` marker; otherwise null. */
export function cwdFailure(stderr: Buffer, marker: string): string | null {
  const tag = Buffer.from(`${marker}!cwd\n`, 'latin1');
  const at = stderr.lastIndexOf(tag);
  if (at < 0) return null;
  return stderr.subarray(0, at).toString('utf8').trim();
}
