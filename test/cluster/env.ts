/**
 * What tests know about the test cluster: the contents of the env.json that `test/cluster/up.sh`
 * writes, and a way to inject faults through `test/cluster/ctl.sh`.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where up.sh writes env.json (`LAB_DIR` in the scripts); HPCB_CLUSTER_ENV overrides it. */
export const CLUSTER_ENV_PATH = process.env.HPCB_CLUSTER_ENV ?? '/var/lib/hpcb-cluster/env.json';

/**
 * The scripts of *this* checkout. env.json also names a ctl.sh, but that is the checkout that last
 * ran up.sh (CI clones elsewhere), so ctl actions always use the one next to this file.
 */
export const CLUSTER_SCRIPTS_DIR = fileURLToPath(new URL('.', import.meta.url));
const CTL = `${CLUSTER_SCRIPTS_DIR}ctl.sh`;

export interface ClusterUser2 {
  user: string;
  /** Unencrypted ed25519 key authorized for this user only. */
  privateKey: string;
  scratchRoot: string;
  /** Host alias for this user in `sshConfig`. */
  sshAlias: string;
}

export interface ClusterEnv {
  /** Login node (sshd inside network namespace `netns`), reached from the host over a veth pair. */
  host: string;
  port: number;
  netns: string;
  /** Host side of the veth pair; `ip link set <hostIface> down` cuts the login node off. */
  hostIface: string;
  /** Primary cluster user. */
  user: string;
  /** Unencrypted ed25519 key authorized for `user`. */
  privateKey: string;
  /** Passphrase-protected ed25519 key authorized for `user`. */
  encryptedKey: string;
  /** The passphrase of `encryptedKey` itself (not a path). */
  passphrase: string;
  /** The same passphrase in a 0600 file. */
  passphraseFile: string;
  /** A valid ed25519 key that is authorized nowhere. */
  wrongKey: string;
  /** `[host]:port ssh-ed25519 ...` for the login node. */
  knownHosts: string;
  /** The same entry hashed (`ssh-keygen -H`). */
  knownHostsHashed: string;
  /** An entry for the same `[host]:port` with a different key (host key mismatch). */
  wrongKnownHosts: string;
  /** OpenSSH client config: `ssh -F <sshConfig> <sshAlias> cmd` runs cmd as `user`. */
  sshConfig: string;
  sshAlias: string;
  /** A directory the user owns (mode 0700) for tests' scratch files. */
  scratchRoot: string;
  user2: ClusterUser2;
  /** A third account with a key, mapped to no bridge user and in no Slurm association. */
  other?: { user: string; privateKey: string; scratchRoot: string };
  /** Every user's scratch root as one template: `<homes>/{user}/hpcb` (each 0700, owned by its user). */
  scratchTemplate?: string;
  /** slurmrestd of the cluster user on the login node (rest_auth/local), when up.sh started it. */
  slurmrestdSocket?: string;
  /** ctl.sh of the checkout that ran up.sh; prefer `clusterCtl()`. */
  ctl: string;
  partitions: string[];
  nodeCpus: number;
  accounting: 'slurmdbd';
  cgroups: 'v1' | 'none';
  /** Seconds a finished job stays visible to squeue/scontrol/qstat. */
  minJobAge: number;
  /** sshd MaxSessions: channels per connection beyond this are refused. */
  maxSessions: number;
  /** Slurm EnforcePartLimits ("ALL": over-limit submissions are rejected at submit time). */
  enforcePartLimits: string;
  /** Slurm ClusterName and the accounting account both users belong to. */
  clusterName: string;
  account: string;
  labDir: string;
  /** sha256 of lib.sh, up.sh, openpbs.sh, podman.sh and templates/*.in that built the running cluster. */
  configHash: string;
}

const REQUIRED: Array<[keyof ClusterEnv, 'string' | 'number' | 'object']> = [
  ['host', 'string'], ['port', 'number'], ['netns', 'string'], ['hostIface', 'string'], ['user', 'string'],
  ['privateKey', 'string'], ['encryptedKey', 'string'], ['passphrase', 'string'], ['wrongKey', 'string'],
  ['knownHosts', 'string'], ['knownHostsHashed', 'string'], ['wrongKnownHosts', 'string'],
  ['sshConfig', 'string'], ['sshAlias', 'string'], ['scratchRoot', 'string'], ['user2', 'object'],
  ['partitions', 'object'], ['nodeCpus', 'number'], ['minJobAge', 'number'],
];

/** Read env.json. Throws, saying how to start the cluster, when it is missing or incomplete. */
export function loadClusterEnv(path: string = CLUSTER_ENV_PATH): ClusterEnv {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new Error(
      `Test cluster environment not found at ${path} (${code}). Start the cluster as root with ` +
        '`bash test/cluster/up.sh`, or run the vitest `cluster` project, whose global setup starts it.',
      { cause: err },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`Test cluster environment ${path} is not valid JSON (${(err as Error).message}); re-run test/cluster/up.sh.`, { cause: err });
  }
  const obj = parsed as Record<string, unknown>;
  const bad = REQUIRED.filter(([k, t]) => typeof obj[k] !== t || obj[k] === null).map(([k]) => k);
  if (bad.length > 0) {
    throw new Error(`Test cluster environment ${path} lacks or mistypes: ${bad.join(', ')}; re-run test/cluster/up.sh.`);
  }
  return obj as unknown as ClusterEnv;
}

export type ClusterCtlAction =
  | 'sshd-stop'
  | 'sshd-start'
  | 'sshd-restart'
  | 'sshd-kill-sessions'
  | 'link-down'
  | 'link-up'
  | 'slurmctld-stop'
  | 'slurmctld-start'
  | 'node-down'
  | 'node-resume'
  | 'pbs-server-stop'
  | 'pbs-server-start'
  | 'pbs-restart';

interface RunResult {
  stdout: string;
  stderr: string;
}

function runCtl(action: string, timeoutMs: number, args: readonly string[] = []): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // bash explicitly: does not depend on the executable bit surviving a checkout.
    execFile('bash', [CTL, action, ...args], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const how = err.killed ? `killed after ${timeoutMs} ms` : `exit ${String(err.code)}`;
        reject(new Error(`test/cluster/ctl.sh ${action} failed (${how}): ${(stderr || stdout).trim()}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/**
 * Inject a fault or undo it. Resolves once the action has taken effect (e.g. `sshd-start` once
 * the port answers with an SSH banner); rejects if ctl.sh fails. See ctl.sh for each action.
 */
export async function clusterCtl(action: ClusterCtlAction, timeoutMs = 120_000): Promise<void> {
  await runCtl(action, timeoutMs);
}

/** `qrerun -W force <id>` on the OpenPBS server as its manager (ctl.sh pbs-rerun): the job runs again. */
export async function pbsRerun(nativeId: string, timeoutMs = 60_000): Promise<void> {
  await runCtl('pbs-rerun', timeoutMs, [nativeId]);
}

export interface ClusterStatus {
  /** Everything below true and env.json present. */
  healthy: boolean;
  daemons: Record<'munged' | 'mariadbd' | 'slurmdbd' | 'slurmctld' | 'slurmd' | 'sshd' | 'pbs_server' | 'pbs_sched' | 'pbs_comm' | 'pbs_mom', boolean>;
  netns: boolean;
  linkUp: boolean;
  /** The login port answers with an SSH banner from the host (across the veth). */
  sshFromHost: boolean;
  /** ... from inside the namespace (true while only the link is cut). */
  sshInNetns: boolean;
  slurmctldAnswers: boolean;
  slurmdbdAnswers: boolean;
  nodeReady: boolean;
  nodeState: string;
  /** The OpenPBS server answers and its node is free (openpbs.sh). */
  pbsReady: boolean;
  envJson: string;
}

/** What is up right now (`ctl.sh status`). Does not need root. */
export async function clusterStatus(timeoutMs = 30_000): Promise<ClusterStatus> {
  const { stdout } = await runCtl('status', timeoutMs);
  return JSON.parse(stdout) as ClusterStatus;
}

/**
 * The fingerprint up.sh stores as `configHash`, computed over this checkout's scripts: when it
 * differs from env.json's, the running cluster was built from other templates. Same files, same
 * byte order as `config_hash` in up.sh.
 */
export function clusterConfigHash(): string {
  const templates = readdirSync(`${CLUSTER_SCRIPTS_DIR}templates`).filter((f) => f.endsWith('.in')).sort();
  const hash = createHash('sha256');
  for (const f of ['lib.sh', 'up.sh', 'openpbs.sh', 'podman.sh', ...templates.map((t) => `templates/${t}`)]) {
    hash.update(readFileSync(`${CLUSTER_SCRIPTS_DIR}${f}`));
  }
  return hash.digest('hex');
}
