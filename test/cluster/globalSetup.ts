/**
 * Global setup of the vitest `cluster` project: make sure the test cluster is up before any
 * cluster test runs. A cluster that cannot be brought up fails the run, locally and under CI
 * alike: these tests are never skipped for want of a cluster.
 *
 * The cluster is left running afterwards on purpose, so the next run starts in about a second;
 * `bash test/cluster/down.sh` stops it.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import {
  CLUSTER_SCRIPTS_DIR,
  clusterConfigHash,
  clusterStatus,
  loadClusterEnv,
  type ClusterEnv,
  type ClusterStatus,
} from './env.js';

function runUp(): Promise<void> {
  return new Promise((resolve, reject) => {
    // stdio inherited: up.sh's progress lines stream to the terminal / CI log as they happen.
    // up.sh detaches every daemon from these descriptors, so this resolves when up.sh exits.
    const child = spawn('bash', [`${CLUSTER_SCRIPTS_DIR}up.sh`], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`test/cluster/up.sh failed (${signal ? `signal ${signal}` : `exit ${String(code)}`}); its output is above`));
    });
  });
}

function describeDown(s: ClusterStatus): string {
  const down = Object.entries(s.daemons).filter(([, up]) => !up).map(([d]) => d);
  const checks: Array<[string, boolean]> = [
    ['netns', s.netns], ['link', s.linkUp], ['ssh from host', s.sshFromHost],
    ['slurmctld answers', s.slurmctldAnswers], ['slurmdbd answers', s.slurmdbdAnswers], ['node ready', s.nodeReady],
    ['OpenPBS ready', s.pbsReady],
  ];
  return [...down.map((d) => `${d} down`), ...checks.filter(([, ok]) => !ok).map(([n]) => `${n}: no`)].join(', ') || 'env.json missing';
}

/** up.sh's environment knobs that env.json records: a run that sets one differently reconfigures. */
function knobMismatch(env: ClusterEnv): string | undefined {
  const knobs: Array<[string, string | number]> = [
    ['NODE_CPUS', env.nodeCpus], ['MIN_JOB_AGE', env.minJobAge],
    ['SSH_MAX_SESSIONS', env.maxSessions], ['ENFORCE_PART_LIMITS', env.enforcePartLimits],
  ];
  const diff = knobs.filter(([k, v]) => process.env[k] !== undefined && process.env[k] !== String(v));
  return diff.length > 0 ? `${diff.map(([k, v]) => `${k}=${process.env[k]} (running: ${v})`).join(', ')}` : undefined;
}

export default async function setup(): Promise<void> {
  const t0 = performance.now();
  const secs = (): string => ((performance.now() - t0) / 1000).toFixed(1);

  let before: ClusterStatus | undefined;
  try {
    before = await clusterStatus();
  } catch (err) {
    console.log(`[cluster] status check failed (${(err as Error).message.split('\n')[0]}); running up.sh`);
  }
  if (before?.healthy) {
    // Healthy, but built from this checkout's scripts and templates, with the knobs asked for in
    // this environment? If not, up.sh reconfigures (it restarts only what changed).
    const env = loadClusterEnv();
    const stale = env.configHash !== clusterConfigHash() ? 'built from other scripts/templates than this checkout' : knobMismatch(env);
    if (!stale) {
      console.log(`[cluster] already up (checked in ${secs()}s)`);
      return;
    }
    console.log(`[cluster] up, but ${stale}; running test/cluster/up.sh`);
  } else if (before) {
    console.log(`[cluster] not healthy (${describeDown(before)}); running test/cluster/up.sh`);
  }

  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('The test cluster is not up and starting it needs root: run `sudo bash test/cluster/up.sh` first.');
  }
  await runUp();
  const after = await clusterStatus();
  if (!after.healthy) {
    throw new Error(`test/cluster/up.sh succeeded but the cluster is not healthy: ${describeDown(after)}`);
  }
  loadClusterEnv();
  console.log(`[cluster] up after ${secs()}s`);
}
