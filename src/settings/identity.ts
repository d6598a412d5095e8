/**
 * Which Unix account a user's jobs run as on a cluster, and the credential that logs in as it.
 * A user's own identity (users.<name>.identities.<cluster>) wins; without one, the cluster's own
 * account serves only where the operator declared it a shared account. There is no other
 * fallback: a user with neither is refused on that cluster.
 */
import { daemonAccount } from '../transport/index.js';
import type { ClusterConfig, DaemonConfig, IdentityConfig } from './schema.js';

export interface ClusterIdentity {
  /** The Unix account on the cluster. */
  user: string;
  /** How to log in as it over SSH (absent for local-transport clusters). */
  privateKey?: string;
  passphraseFile?: string;
  agent?: boolean | string;
  /** True when this is the cluster's shared account rather than the user's own identity. */
  shared: boolean;
}

/** The cluster's own account: ssh.user, user, or the daemon's own user on a local cluster. */
export function clusterAccount(c: ClusterConfig): string {
  // The daemon's real account, not $USER, which a service manager or sudo may leave stale.
  return c.user ?? c.ssh?.user ?? daemonAccount();
}

/** The cluster's own credential, as an identity (the shared account, and jobs recorded before identities existed). */
export function sharedIdentity(c: ClusterConfig): ClusterIdentity {
  const s = c.ssh;
  return {
    user: clusterAccount(c),
    shared: true,
    ...(s?.privateKey ? { privateKey: s.privateKey } : {}),
    ...(s?.passphraseFile ? { passphraseFile: s.passphraseFile } : {}),
    ...(s && s.agent !== false ? { agent: s.agent } : {}),
  };
}

function own(id: IdentityConfig): ClusterIdentity {
  return {
    user: id.user,
    shared: false,
    ...(id.privateKey ? { privateKey: id.privateKey } : {}),
    ...(id.passphraseFile ? { passphraseFile: id.passphraseFile } : {}),
    ...(id.agent !== undefined && id.agent !== false ? { agent: id.agent } : {}),
  };
}

/** The identity `owner` has on cluster `c`, or undefined when they have none and the cluster shares none. */
export function identityFor(daemon: DaemonConfig, c: ClusterConfig, owner: string): ClusterIdentity | undefined {
  const id = daemon.users[owner]?.identities[c.name];
  if (id) return own(id);
  return c.sharedAccount ? sharedIdentity(c) : undefined;
}

/**
 * Every credential known for an account on this cluster: the job row stores only the Unix
 * account, so the engine finds the way to log in as it here (a user's identity, the shared
 * account, or for a job recorded before identities the cluster's own account).
 */
export function identityForAccount(daemon: DaemonConfig, c: ClusterConfig, account: string): ClusterIdentity | undefined {
  // On this machine an account needs no credential: the daemon is it, or (as root) switches to it.
  if (c.transport === 'local') return { user: account, shared: account === clusterAccount(c) };
  for (const policy of Object.values(daemon.users)) {
    const id = policy.identities[c.name];
    if (id && id.user === account) return own(id);
  }
  return account === clusterAccount(c) ? sharedIdentity(c) : undefined;
}
