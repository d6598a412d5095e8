/**
 * `hpc-bridge config check`, second half: after the configuration validates, try each cluster
 * the way the daemon will use it, so an operator finds a missing key, an unknown host key, a
 * scheduler that is not on the PATH or a read-only scratch before the first job does.
 *
 * Each cluster gets its own transport, built from the same options the daemon uses; the checks
 * run in order and stop at the first failure (nothing after a failed login can be learned).
 */
import { flavorProbeCommand, judgeFlavor, parseFlavorProbe } from '../../adapters/pbs/flavor.js';
import { pbsCommand } from '../../adapters/pbs/index.js';
import { transportOptions } from '../bridge.js';
import { BridgeError } from '../domain/errors.js';
import { shellQuote } from '../domain/quote.js';
import type { ClusterIdentity } from '../settings/identity.js';
import type { ClusterConfig, DaemonConfig } from '../settings/schema.js';
import { createTransport } from '../transport/index.js';
import type { Transport } from '../transport/transport.js';

export interface CheckStep {
  cluster: string;
  check: 'login' | 'scheduler' | 'flavor' | 'scratch' | 'identity';
  ok: boolean;
  detail: string;
}

/** The commands the cluster's adapter runs, as configured; all must be found. */
function commandsFor(c: ClusterConfig): string[] {
  switch (c.scheduler) {
    case 'slurm':
      // A cluster without accounting storage is configured with `accounting: none`: sacct is never run.
      return c.adapter?.['accounting'] === 'none' ? ['sbatch', 'squeue', 'scancel'] : ['sbatch', 'squeue', 'sacct', 'scancel'];
    case 'pbs': {
      const dir = typeof c.adapter?.['commandDir'] === 'string' ? c.adapter['commandDir'] : undefined;
      // PBS Pro's status program lists the user's jobs with qselect.
      return (c.flavor === 'torque' ? ['qsub', 'qstat', 'qdel'] : ['qsub', 'qstat', 'qselect', 'qdel']).map(pbsCommand(dir));
    }
    case 'direct':
      return ['bash', 'setsid', 'kill'];
  }
}

export async function checkCluster(c: ClusterConfig, make: (c: ClusterConfig) => Transport = (x) => createTransport(transportOptions(x))): Promise<CheckStep[]> {
  const steps: CheckStep[] = [];
  const step = (check: CheckStep['check'], ok: boolean, detail: string) => {
    steps.push({ cluster: c.name, check, ok, detail });
    return ok;
  };
  const where = c.transport === 'ssh' && c.ssh ? `${c.ssh.user}@${c.ssh.host}:${c.ssh.port}` : 'this machine';
  let t: Transport | undefined;
  try {
    t = make(c);
    const hello = await t.exec(['id', '-un'], { timeoutMs: c.commandTimeoutSeconds * 1000 });
    if (!step('login', hello.exitCode === 0, hello.exitCode === 0 ? `logged in to ${where} as ${hello.stdout.trim()}${c.ssh ? ` (host key matched ${c.ssh.knownHosts})` : ''}` : `\`id -un\` exited ${hello.exitCode}: ${hello.stderr.trim()}`)) return steps;

    const cmds = commandsFor(c);
    // `command -v` in one shell: a scheduler only on the login PATH shows up here as missing
    // unless ssh.loginShell is set, which is exactly the mistake this check is for.
    const probe = cmds.map((x) => `command -v ${shellQuote(x)} >/dev/null 2>&1 || echo ${shellQuote(x)}`).join('; ');
    const found = await t.exec(['bash', '-c', probe], { timeoutMs: c.commandTimeoutSeconds * 1000 });
    const missing = found.stdout.split('\n').filter(Boolean);
    const hint = c.ssh && !c.ssh.loginShell ? ' (if they are on the login PATH only, set ssh.loginShell: true)' : '';
    if (!step('scheduler', found.exitCode === 0 && missing.length === 0, missing.length === 0 ? `found ${cmds.join(', ')}` : `not found: ${missing.join(', ')}${hint}`)) return steps;

    if (c.scheduler === 'pbs') {
      // The configured flavor against what the login node's qstat says it is: the wrong one
      // renders scripts and reads states in the wrong dialect.
      const dir = typeof c.adapter?.['commandDir'] === 'string' ? c.adapter['commandDir'] : undefined;
      const seen = parseFlavorProbe(await t.exec(flavorProbeCommand(dir), { timeoutMs: c.commandTimeoutSeconds * 1000 }));
      const { verdict, detail } = judgeFlavor(c.flavor ?? 'pbspro', seen, dir);
      const ok = verdict === 'match';
      if (!step('flavor', ok, detail)) return steps;
    }

    // Create the job directory root and a file in it, then remove the file: what stage-in does first.
    const jobs = `${c.scratchRoot.replace(/\/+$/, '')}/jobs`;
    const script = `set -e; mkdir -p -- ${shellQuote(jobs)}; f=$(mktemp ${shellQuote(`${jobs}/.hpcb-check.XXXXXX`)}); echo ok > "$f"; rm -f -- "$f"; df -Pk ${shellQuote(jobs)} | tail -n 1`;
    const w = await t.exec(['bash', '-c', script], { timeoutMs: c.commandTimeoutSeconds * 1000 });
    const free = Number(w.stdout.trim().split(/\s+/)[3]);
    step('scratch', w.exitCode === 0, w.exitCode === 0 ? `${jobs} is writable${Number.isFinite(free) ? ` (${(free / 1024 ** 2).toFixed(1)} GiB free)` : ''}` : `${jobs} is not writable: ${w.stderr.trim()}`);
  } catch (e) {
    const msg = e instanceof BridgeError || e instanceof Error ? e.message : String(e);
    const next: CheckStep['check'][] = c.scheduler === 'pbs' ? ['login', 'scheduler', 'flavor', 'scratch'] : ['login', 'scheduler', 'scratch'];
    step(next[Math.min(steps.length, next.length - 1)]!, false, `${where}: ${msg}`);
  } finally {
    await t?.close().catch(() => undefined);
  }
  return steps;
}

/**
 * Log in as each user's identity on an SSH cluster and as its monitor: a key the cluster does not
 * accept, or one that logs in as another account than configured, is found here rather than
 * at that user's first job.
 */
export async function checkIdentities(c: ClusterConfig, daemon: DaemonConfig, make: (c: ClusterConfig, id: Omit<ClusterIdentity, 'shared'>) => Transport = (x, id) => createTransport(transportOptions(x, id))): Promise<CheckStep[]> {
  if (c.transport !== 'ssh' || !c.ssh) return [];
  const ids: [string, Omit<ClusterIdentity, 'shared'>][] = [];
  for (const [name, policy] of Object.entries(daemon.users)) {
    const id = policy.identities[c.name];
    if (id) ids.push([`user ${name}`, { user: id.user, ...(id.privateKey ? { privateKey: id.privateKey } : {}), ...(id.passphraseFile ? { passphraseFile: id.passphraseFile } : {}), ...(id.agent ? { agent: id.agent } : {}) }]);
  }
  if (c.monitor) ids.push(['monitor', { user: c.monitor.user, ...(c.monitor.privateKey ? { privateKey: c.monitor.privateKey } : {}), ...(c.monitor.passphraseFile ? { passphraseFile: c.monitor.passphraseFile } : {}), ...(c.monitor.agent ? { agent: c.monitor.agent } : {}) }]);
  const steps: CheckStep[] = [];
  for (const [who, id] of ids) {
    const where = `${id.user}@${c.ssh.host}:${c.ssh.port}`;
    let t: Transport | undefined;
    try {
      t = make(c, id);
      const r = await t.exec(['id', '-un'], { timeoutMs: c.commandTimeoutSeconds * 1000 });
      const got = r.stdout.trim();
      const ok = r.exitCode === 0 && got === id.user;
      steps.push({ cluster: c.name, check: 'identity', ok, detail: ok ? `${who}: logged in to ${where}` : `${who}: ${where}: ${r.exitCode === 0 ? `logged in as "${got}", not "${id.user}"` : `\`id -un\` exited ${r.exitCode}`}` });
    } catch (e) {
      steps.push({ cluster: c.name, check: 'identity', ok: false, detail: `${who}: ${where}: ${e instanceof Error ? e.message : String(e)}` });
    } finally {
      await t?.close().catch(() => undefined);
    }
  }
  return steps;
}

export function formatSteps(steps: CheckStep[]): string {
  return steps.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.cluster}: ${s.check}: ${s.detail}`).join('\n');
}
