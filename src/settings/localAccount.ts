/**
 * Which Unix account a job runs as on a cluster with `transport: local` (the `direct` scheduler
 * on this machine, or a daemon on the login node itself), and when that is refused.
 *
 * A daemon running as root switches to the job's account for everything it does for the job
 * (src/transport/runAs.ts), so the account decides what the job can touch:
 *   - the user's own identity (users.<name>.identities.<cluster>.user);
 *   - else the cluster's shared account where the operator declared one (sharedAccount);
 *   - else, where the cluster says so (sameNameAccounts, the embedded default as root), the
 *     Unix account named like the user, if this machine has one;
 *   - else the user is refused, naming the cluster.
 * Root itself is never reached by accident: an account that is root is refused unless the
 * cluster sets runJobsAsRoot.
 *
 * A daemon that is not root cannot switch: every job runs as the daemon's own account (personal
 * mode), and an identity naming another account is a configuration problem.
 */
import type { ClusterConfig, DaemonConfig } from './schema.js';

/** What this machine says about accounts (injected so the rules are tested without root). */
export interface HostAccounts {
  /** The daemon runs as root (uid 0). */
  root: boolean;
  /** The daemon's own account name. */
  self: string;
  /** The uid of an account, or undefined when there is none. */
  uidOf(name: string): number | undefined;
}

export type LocalAccount = { user: string } | { refusal: string };

/** The cluster's own account on a local cluster: `user:`, else the daemon's own. */
function ownAccount(c: ClusterConfig, host: HostAccounts): string {
  return c.user ?? host.self;
}

export function localAccountFor(daemon: DaemonConfig, c: ClusterConfig, owner: string, host: HostAccounts): LocalAccount {
  const id = daemon.users[owner]?.identities[c.name];
  const where = `cluster "${c.name}"`;
  if (!host.root) {
    // Personal mode: the one account there is.
    if (id && id.user !== host.self) {
      return { refusal: `user "${owner}" is mapped to "${id.user}" on ${where}, but the daemon runs as "${host.self}" and cannot switch accounts (only a daemon started as root can)` };
    }
    if (id || c.sharedAccount || c.sameNameAccounts) return { user: host.self };
    return { refusal: `user "${owner}" has no identity on ${where} (an operator maps the user to a Unix account there: users.${owner}.identities.${c.name} in the daemon configuration)` };
  }
  let user: string | undefined;
  if (id) user = id.user;
  else if (c.sharedAccount) user = ownAccount(c, host);
  else if (c.sameNameAccounts && host.uidOf(owner) !== undefined) user = owner;
  if (user === undefined) {
    const hint = c.sameNameAccounts ? `; this machine has no Unix account "${owner}" either` : '';
    return { refusal: `user "${owner}" has no identity on ${where} (an operator maps the user to a Unix account there: users.${owner}.identities.${c.name} in the daemon configuration)${hint}` };
  }
  const uid = host.uidOf(user);
  if (uid === undefined) return { refusal: `user "${owner}" is mapped to the Unix account "${user}" on ${where}, which does not exist on this machine` };
  if (uid === 0 && !c.runJobsAsRoot) {
    return { refusal: `${where} would run user "${owner}"'s job as root ("${user}"); jobs run as root only where the cluster file sets runJobsAsRoot: true` };
  }
  return { user };
}

/**
 * Problems of a local cluster's accounts that the configuration alone shows, for `config check`
 * and the start-up log: identities a non-root daemon cannot take, accounts missing here.
 */
export function localAccountProblems(daemon: DaemonConfig, c: ClusterConfig, host: HostAccounts): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  for (const [name, policy] of Object.entries(daemon.users)) {
    const id = policy.identities[c.name];
    if (!id) continue;
    const key = `users.${name}.identities.${c.name}.user`;
    if (!host.root && id.user !== host.self) out.push({ key, message: `the daemon runs as "${host.self}" and cannot run jobs as "${id.user}" (only a daemon started as root switches accounts)` });
    else if (host.root && host.uidOf(id.user) === undefined) out.push({ key, message: `there is no Unix account "${id.user}" on this machine` });
    else if (host.root && host.uidOf(id.user) === 0 && !c.runJobsAsRoot) out.push({ key, message: `maps to root; jobs run as root only where the cluster file sets runJobsAsRoot: true` });
  }
  return out;
}

/** Warnings for `config check` and every start: a local cluster that may run jobs as root. */
export function runAsRootWarning(c: ClusterConfig, host: HostAccounts): string | undefined {
  if (c.transport !== 'local' || !c.runJobsAsRoot) return undefined;
  return host.root
    ? `cluster "${c.name}" runs jobs as root where a user maps to root (runJobsAsRoot: true): such a job can read and change everything on this machine, the daemon's database and keys included`
    : `cluster "${c.name}" sets runJobsAsRoot, which has no effect: the daemon does not run as root`;
}

export interface LocalAccountReport {
  /** Each with the file and key it comes from. */
  problems: { file: string; key: string; message: string }[];
  warnings: { file: string; key: string; message: string }[];
}

/** Every local cluster's account problems and root warnings, with file and key. */
export function localAccountReport(settings: { daemon: DaemonConfig; clusters: readonly ClusterConfig[]; sources: { daemon: string; clusters: Record<string, string> } }, host: HostAccounts): LocalAccountReport {
  const report: LocalAccountReport = { problems: [], warnings: [] };
  for (const c of settings.clusters) {
    if (c.transport !== 'local') continue;
    for (const p of localAccountProblems(settings.daemon, c, host)) report.problems.push({ file: settings.sources.daemon, ...p });
    const warning = runAsRootWarning(c, host);
    if (warning) report.warnings.push({ file: settings.sources.clusters[c.name] ?? '(inline)', key: 'runJobsAsRoot', message: warning });
  }
  return report;
}
