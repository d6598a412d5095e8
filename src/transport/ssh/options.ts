/**
 * Options of SshTransport, as a plain object (what a cluster's YAML turns into), plus the
 * zod schema that checks it. Defaults live here, next to the reason for each.
 */
import { z } from 'zod';
import type { ReconnectPolicy } from './backoff.js';

/** One SSH endpoint and the credentials for it. */
export interface SshHopOptions {
  host: string;
  /** Default 22. */
  port?: number;
  user: string;
  /** OpenSSH-format private key file. */
  privateKeyPath?: string;
  /** Passphrase of an encrypted private key. Never appears in ids, errors or events. */
  passphrase?: string;
  /** Use ssh-agent: `true` for $SSH_AUTH_SOCK, or the socket path. */
  agent?: boolean | string;
  /** OpenSSH known_hosts file (plain or hashed entries) that must hold the host key. */
  knownHostsPath: string;
  /** Look the key up under this name instead of `host` (OpenSSH's HostKeyAlias). */
  hostKeyAlias?: string;
}

/** The bastion in front of the cluster. Credentials and known_hosts default to the target's. */
export type SshJumpOptions = Omit<SshHopOptions, 'knownHostsPath'> & { knownHostsPath?: string };

export type SshTransportEvent =
  | { type: 'connecting'; attempt: number }
  | { type: 'connected'; attempt: number; reconnect: boolean }
  | { type: 'connect-failed'; attempt: number; code: string; message: string; transient: boolean }
  | { type: 'disconnected'; reason: string; inFlight: number }
  | { type: 'channel-retry'; attempt: number; reason: string };

export interface SshTransportOptions extends SshHopOptions {
  kind: 'ssh';
  jump?: SshJumpOptions;
  /** Run every command as `bash -lc` (sites where sbatch/qsub are only on a login PATH). */
  loginShell?: boolean;
  /** Session channels (exec + the one SFTP channel) open at once on the connection. Default 6. */
  channelBudget?: number;
  /** Re-open attempts after "Channel open failure" before CHANNEL_OPEN. Default 6. */
  channelOpenRetries?: number;
  /** First delay of that retry, doubled each time. Default 25 ms. */
  channelOpenBackoffMs?: number;
  /** SSH-level keepalive period; 0 disables. Default 15000 ms. */
  keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the connection counts as lost. Default 3. */
  keepaliveCountMax?: number;
  /** Handshake + authentication deadline per hop. Default 20000 ms. */
  readyTimeoutMs?: number;
  /** Connection attempts made for one operation before it fails. Default 3. */
  connectAttempts?: number;
  reconnect?: Partial<ReconnectPolicy>;
  /**
   * 'strict' (default): unknown or changed host keys are refused.
   * 'accept-new': an unknown host's key is appended (hashed) to knownHostsPath and trusted;
   * a changed or revoked key is still refused. Opt-in only.
   */
  hostKeyPolicy?: 'strict' | 'accept-new';
  /**
   * Outstanding SFTP requests per fastPut/fastGet. Default 32. With sftpChunkSize this bounds
   * the data in flight (4 MiB by default), hence throughput on a high-latency link. Some
   * non-OpenSSH servers fail with "General Error" above 1 (mscdex/ssh2-streams#119).
   */
  sftpConcurrency?: number;
  /**
   * Bytes per SFTP read/write request. Default 131072; OpenSSH serves up to 256 KiB per
   * request and ssh2 splits larger writes itself. On the test cluster 32 x 128 KiB measured
   * somewhat faster than ssh2's 64 x 32 KiB, with large run-to-run noise.
   */
  sftpChunkSize?: number;
  /** Observability hook (logging, metrics). Exceptions it throws are ignored. */
  onEvent?: (e: SshTransportEvent) => void;
}

export const SSH_DEFAULTS = {
  port: 22,
  loginShell: false,
  channelBudget: 6,
  channelOpenRetries: 6,
  channelOpenBackoffMs: 25,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
  readyTimeoutMs: 20_000,
  connectAttempts: 3,
  hostKeyPolicy: 'strict',
  sftpConcurrency: 32,
  sftpChunkSize: 131_072,
} as const;

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

const hopFields = {
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).optional(),
  user: z.string().min(1),
  privateKeyPath: z.string().min(1).optional(),
  passphrase: z.string().optional(),
  agent: z.union([z.boolean(), z.string().min(1)]).optional(),
  hostKeyAlias: z.string().min(1).optional(),
};

export const sshTransportOptionsSchema = z.strictObject({
  kind: z.literal('ssh'),
  ...hopFields,
  knownHostsPath: z.string().min(1),
  jump: z.strictObject({ ...hopFields, knownHostsPath: z.string().min(1).optional() }).optional(),
  loginShell: z.boolean().optional(),
  // At least 2: the SFTP channel keeps one slot for the life of the connection.
  channelBudget: z.number().int().min(2).optional(),
  channelOpenRetries: nonNegativeInt.optional(),
  channelOpenBackoffMs: nonNegativeInt.optional(),
  keepaliveIntervalMs: nonNegativeInt.optional(),
  keepaliveCountMax: positiveInt.optional(),
  readyTimeoutMs: positiveInt.optional(),
  connectAttempts: positiveInt.optional(),
  reconnect: z
    .strictObject({
      baseDelayMs: nonNegativeInt.optional(),
      maxDelayMs: nonNegativeInt.optional(),
      minIntervalMs: nonNegativeInt.optional(),
      jitter: z.number().min(0).max(1).optional(),
    })
    .optional(),
  hostKeyPolicy: z.enum(['strict', 'accept-new']).optional(),
  sftpConcurrency: positiveInt.optional(),
  sftpChunkSize: positiveInt.max(1 << 20).optional(),
  onEvent: z.custom<(e: SshTransportEvent) => void>((v) => typeof v === 'function').optional(),
});
