/**
 * Settings and helpers for end-to-end tests against the real test cluster over SSH.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildSettings } from '../../../src/settings/load.js';
import type { Settings } from '../../../src/settings/schema.js';
import { loadClusterEnv, type ClusterEnv } from '../../cluster/env.js';

const pexec = promisify(execFile);

export interface LabOptions {
  scheduler?: 'slurm' | 'pbs';
  flavor?: 'pbspro' | 'torque';
  pollIntervalSeconds?: number;
  lostGraceSeconds?: number;
  dataDir?: string;
  clusterName?: string;
  /** Extra cluster keys (e.g. commandTimeoutSeconds), merged over the defaults above. */
  cluster?: Record<string, unknown>;
  /** Extra ssh keys (e.g. keepaliveSeconds), merged over the defaults above. */
  ssh?: Record<string, unknown>;
  /**
   * Map the bridge users alice and bob to the Unix accounts hpcuser and hpcuser2 (their own keys,
   * per-user scratch under each home) instead of the lab's one shared account.
   */
  identities?: boolean;
}

export interface Lab {
  settings: Settings;
  env: ClusterEnv;
  dataDir: string;
  scratchRoot: string;
  /** The raw cluster entry the settings were built from (for daemons started from a config file). */
  cluster: Record<string, unknown>;
  /** The daemon's `users:` of an identities lab. */
  users?: Record<string, unknown>;
}

export function labSettings(opts: LabOptions = {}): Lab {
  const env = loadClusterEnv();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hpcb-e2e-'));
  const leaf = `e2e-${randomBytes(3).toString('hex')}`;
  if (opts.identities && !env.scratchTemplate) throw new Error('the test cluster has no per-user scratch template: run test/cluster/up.sh from this checkout');
  const scratchRoot = opts.identities ? `${env.scratchTemplate!}/${leaf}` : `${env.scratchRoot}/${leaf}`;
  const cluster = {
    name: opts.clusterName ?? 'lab',
    scheduler: opts.scheduler ?? 'slurm',
    ...(opts.flavor ? { flavor: opts.flavor } : {}),
    transport: 'ssh',
    ssh: { host: env.host, port: env.port, user: env.user, privateKey: env.privateKey, knownHosts: env.knownHosts, ...(opts.ssh ?? {}) },
    scratchRoot,
    // The lab's single account runs every test user's jobs unless a test maps users to identities.
    sharedAccount: !opts.identities,
    pollIntervalSeconds: opts.pollIntervalSeconds ?? 1,
    lostGraceSeconds: opts.lostGraceSeconds ?? 30,
    ...(opts.cluster ?? {}),
  };
  const name = cluster.name as string;
  const users = opts.identities
    ? {
        alice: { identities: { [name]: { user: env.user, privateKey: env.privateKey } } },
        bob: { identities: { [name]: { user: env.user2.user, privateKey: env.user2.privateKey } } },
      }
    : {};
  const settings = buildSettings({ dataDir, logLevel: process.env.HPCB_TEST_LOG ?? 'silent', users }, [{ file: '(test)', raw: cluster }]);
  // `scratchRoot` is the shared account's (hpcuser's) root: alice's in an identities lab.
  return { settings, env, dataDir, scratchRoot: scratchRoot.replaceAll('{user}', env.user), cluster, ...(opts.identities ? { users } : {}) };
}

/** Run a command on the login node as the cluster user with the OpenSSH client (for checks). */
export async function onLogin(env: ClusterEnv, command: string): Promise<string> {
  const { stdout } = await pexec('ssh', ['-F', env.sshConfig, env.sshAlias, command], { maxBuffer: 64 << 20 });
  return stdout;
}

/** Run a command on the login node as another account with its own key (hpcuser2, hpcother). */
export async function onLoginAs(env: ClusterEnv, who: { user: string; privateKey: string }, command: string): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await pexec('ssh', ['-F', env.sshConfig, '-o', `User=${who.user}`, '-i', who.privateKey, env.sshAlias, command], { maxBuffer: 64 << 20 });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number };
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: typeof err.code === 'number' ? err.code : -1 };
  }
}

export async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs: number, everyMs = 250): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
