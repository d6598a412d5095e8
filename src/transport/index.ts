/**
 * Transports: pick one from a plain options object (what a cluster's configuration holds).
 *
 *   createTransport({ kind: 'local' })
 *   createTransport({ kind: 'ssh', host, port, user, privateKeyPath, knownHostsPath, ... })
 */
import { userInfo } from 'node:os';
import { BridgeError } from '../domain/errors.js';
import { LocalTransport, type LocalTransportOptions } from './local.js';
import { sshTransportOptionsSchema, type SshTransportOptions } from './ssh/options.js';
import { SshTransport } from './ssh/sshTransport.js';
import { daemonIsRoot, lookupAccount, RunAsTransport } from './runAs.js';
import type { Transport } from './transport.js';

export type { DirEntry, ExecOptions, ExecResult, RemoteStat, TransferOptions, Transport } from './transport.js';
export { LocalTransport, type LocalTransportOptions, type LocalTransportStats } from './local.js';
export { SshTransport, type SshTransportStats } from './ssh/sshTransport.js';
export { daemonIsRoot, lookupAccount, RunAsTransport, type UnixAccount } from './runAs.js';
export {
  SSH_DEFAULTS,
  sshTransportOptionsSchema,
  type SshHopOptions,
  type SshJumpOptions,
  type SshTransportEvent,
  type SshTransportOptions,
} from './ssh/options.js';
export { DEFAULT_RECONNECT_POLICY, type ReconnectPolicy } from './ssh/backoff.js';

export type TransportOptions = LocalTransportOptions | SshTransportOptions;

export function createTransport(options: LocalTransportOptions): LocalTransport | RunAsTransport;
export function createTransport(options: SshTransportOptions): SshTransport;
export function createTransport(options: TransportOptions): LocalTransport | SshTransport;
export function createTransport(options: TransportOptions): Transport {
  const kind = (options as { kind?: unknown } | null)?.kind;
  if (kind === 'local') return localTransport(options as LocalTransportOptions);
  if (kind === 'ssh') {
    const parsed = sshTransportOptionsSchema.safeParse(options);
    if (!parsed.success) {
      // List every problem; the passphrase value is never echoed (zod messages carry no input).
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new BridgeError('INVALID_CONFIG', `invalid ssh transport options:\n- ${problems.join('\n- ')}`, {
        context: { field: parsed.error.issues[0]?.path.join('.'), problems },
      });
    }
    return new SshTransport(options as SshTransportOptions);
  }
  throw new BridgeError('INVALID_CONFIG', `unknown transport kind ${JSON.stringify(kind)} (expected "local" or "ssh")`, {
    context: { field: 'kind' },
  });
}

/**
 * The daemon's own account, as a local transport runs commands without switching. Asked on
 * every job created (the job's cluster identity), and each answer is a passwd look-up through
 * NSS: remembered for a minute, like other accounts (src/transport/runAs.ts).
 */
export function daemonAccount(): string {
  const now = Date.now();
  if (ownAccount === undefined || now - ownAccount.at >= SELF_TTL_MS) ownAccount = { name: lookupUserName() ?? process.env.USER ?? 'root', at: now };
  return ownAccount.name;
}
const SELF_TTL_MS = 60_000;
let ownAccount: { name: string; at: number } | undefined;

function lookupUserName(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * A local transport as `runAs`: the daemon's own account needs no switch; any other account
 * needs a daemon running as root and an account that exists. Root itself is only reached by a
 * daemon that is root and is asked for root (the cluster's explicit runJobsAsRoot).
 */
function localTransport(o: LocalTransportOptions): LocalTransport | RunAsTransport {
  const self = daemonAccount();
  if (o.runAs === undefined || o.runAs === self) return new LocalTransport(o);
  if (!daemonIsRoot()) {
    throw new BridgeError('INVALID_CONFIG', `the daemon runs as "${self}" and cannot run commands as "${o.runAs}": only a daemon started as root switches accounts`, {
      context: { field: 'runAs', account: o.runAs },
    });
  }
  const account = lookupAccount(o.runAs);
  if (!account) throw new BridgeError('INVALID_CONFIG', `there is no Unix account "${o.runAs}" on this machine`, { context: { field: 'runAs', account: o.runAs } });
  return new RunAsTransport(account);
}

/** What this machine says about accounts, for the rules of src/settings/localAccount.ts. */
export function hostAccounts(): { root: boolean; self: string; uidOf(name: string): number | undefined } {
  return { root: daemonIsRoot(), self: daemonAccount(), uidOf: (name) => lookupAccount(name)?.uid };
}
