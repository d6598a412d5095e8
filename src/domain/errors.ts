/**
 * One error type for the whole bridge. Every failure carries a stable code, whether a retry
 * could help (`transient`), and the context a person needs to act on it: cluster, job,
 * command, exit code and trimmed output. Messages are for users; `cause` is for debugging.
 */
export type ErrorCode =
  | 'INVALID_DEFINITION'   // a job/workflow definition failed validation (names the field)
  | 'INVALID_CONFIG'       // configuration failed validation (lists every problem)
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'TOO_LARGE'
  | 'UNAUTHORIZED'
  | 'STALE_STATE'          // a guarded transition found the job in another state
  | 'SSH_CONNECT'          // could not connect or authenticate
  | 'SSH_HOST_KEY'         // host key unknown or changed: never trusted silently
  | 'SSH_AUTH'
  | 'CONNECTION_LOST'      // the transport dropped mid-operation; outcome of the operation unknown
  | 'COMMAND_TIMEOUT'      // a remote command did not finish within its timeout
  | 'CHANNEL_OPEN'         // sshd refused a new channel (MaxSessions)
  | 'REMOTE_IO'            // a file operation on the cluster failed
  | 'SUBMIT_REJECTED'      // the scheduler refused the job (permanent for this definition)
  | 'SCHEDULER_ERROR'      // a scheduler command failed in a way that may pass
  | 'PARSE_ERROR'          // scheduler output could not be understood
  | 'CLUSTER_UNAVAILABLE'
  | 'NO_SPACE'             // the daemon's own disk (its data directory) is full
  | 'INTERNAL';

export interface ErrorContext {
  cluster?: string;
  jobId?: number;
  nativeId?: string;
  command?: readonly string[] | string;
  exitCode?: number | null;
  signal?: string | null;
  stdout?: string;
  stderr?: string;
  field?: string;
  path?: string;
  [key: string]: unknown;
}

const OUTPUT_CAP = 2000;

/** Keep the head and tail of long command output: the tail usually holds the error. */
export function trimOutput(text: string | undefined, cap = OUTPUT_CAP): string | undefined {
  if (text === undefined) return undefined;
  if (text.length <= cap) return text;
  const half = Math.floor(cap / 2);
  return `${text.slice(0, half)}\n… [${text.length - cap} characters trimmed] …\n${text.slice(-half)}`;
}

export class BridgeError extends Error {
  override readonly name = 'BridgeError';
  readonly code: ErrorCode;
  readonly transient: boolean;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, opts: { transient?: boolean; context?: ErrorContext; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.transient = opts.transient ?? false;
    const ctx: ErrorContext = { ...(opts.context ?? {}) };
    if (typeof ctx.stdout === 'string') ctx.stdout = trimOutput(ctx.stdout);
    if (typeof ctx.stderr === 'string') ctx.stderr = trimOutput(ctx.stderr);
    this.context = ctx;
  }

  /** A multi-line description for logs and CLI output: what failed, the command, its exit and output. */
  describe(): string {
    const lines = [`${this.code}: ${this.message}${this.transient ? ' (transient: retrying may help)' : ''}`];
    const c = this.context;
    if (c.cluster) lines.push(`- cluster: ${c.cluster}`);
    if (c.jobId !== undefined) lines.push(`- job: ${c.jobId}`);
    if (c.command) lines.push(`- command: ${Array.isArray(c.command) ? c.command.join(' ') : String(c.command)}`);
    if (c.exitCode !== undefined) lines.push(`- exit status: ${c.exitCode}${c.signal ? ` (signal ${c.signal})` : ''}`);
    if (c.stderr) lines.push(`- stderr: ${c.stderr.trim()}`);
    if (c.stdout) lines.push(`- stdout: ${c.stdout.trim()}`);
    return lines.join('\n');
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, transient: this.transient, context: this.context };
  }
}

export function isBridgeError(e: unknown): e is BridgeError {
  return e instanceof BridgeError;
}

/** Whether an arbitrary thrown value is worth retrying: unknown errors are not assumed transient. */
export function isTransient(e: unknown): boolean {
  return e instanceof BridgeError && e.transient;
}
