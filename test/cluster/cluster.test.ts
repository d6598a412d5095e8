/**
 * Smoke test of the test cluster itself, through the plain OpenSSH client (no project code), so
 * that a failure here means "the lab is broken", not "the bridge is broken".
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClusterEnv, type ClusterEnv } from './env.js';

const env: ClusterEnv = loadClusterEnv();
const alias2 = `${env.sshAlias}2`;
const tag = `cluster-smoke-${randomBytes(3).toString('hex')}`;
const dir = `${env.scratchRoot}/${tag}`;
const dir2 = `${env.user2.scratchRoot}/${tag}`;
const dirOf = (alias: string): string => (alias === alias2 ? dir2 : dir);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a shell command on the login node as `alias`'s user. Resolves with the exit code. */
function onLogin(command: string, alias = env.sshAlias): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile('ssh', ['-F', env.sshConfig, alias, command], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

async function ok(command: string, alias?: string): Promise<string> {
  const r = await onLogin(command, alias);
  if (r.code !== 0) throw new Error(`\`${command}\` exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Submit with sbatch --parsable (extra args already shell-quoted) and return the job id. */
async function sbatch(args: string, alias = env.sshAlias): Promise<string> {
  const out = (await ok(`cd ${dirOf(alias)} && sbatch --parsable ${args}`, alias)).trim();
  const id = out.split(';')[0] ?? '';
  expect(id).toMatch(/^\d+$/);
  return id;
}

const FINAL = /^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE)/;

/** Poll sacct (via slurmdbd) until the job has a final State; returns "State|ExitCode". */
async function finalState(id: string, alias?: string, timeoutMs = 60_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    last = (await ok(`sacct -X -P -n -j ${id} -o State,ExitCode`, alias)).trim();
    if (FINAL.test(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`job ${id} not finished after ${timeoutMs} ms (sacct: '${last}')`);
}

beforeAll(async () => {
  await ok(`mkdir -p ${dir}`);
  await ok(`mkdir -p ${dir2}`, alias2);
});

afterAll(async () => {
  await onLogin(`rm -rf ${dir}`);
  await onLogin(`rm -rf ${dir2}`, alias2);
});

describe('test cluster over ssh', () => {
  it('runs on the login node inside its network namespace, as the cluster user', async () => {
    const out = await ok('id -un; ip -4 -o addr show scope global');
    expect(out).toContain(env.user);
    expect(out).toContain(`inet ${env.host}/`);
  });

  it('sbatch exit 3: visible in squeue, then FAILED|3:0 in sacct', async () => {
    const id = await sbatch(`-o /dev/null --wrap 'exit 3'`);
    // -t all: the job may already have finished by the time this ssh round trip lands; finished
    // jobs stay listed for MinJobAge.
    const q = await ok(`squeue -h -t all -j ${id} -o '%i|%u|%T'`);
    expect(q.trim()).toMatch(new RegExp(`^${id}\\|${env.user}\\|[A-Z]+$`));
    expect(await finalState(id)).toBe('FAILED|3:0');
  });

  it('mpirun -np 2 inside a --ntasks=2 allocation runs two ranks', async () => {
    // Debian's Open MPI 4.1 is built with Slurm support: inside the allocation mpirun reads
    // SLURM_* and needs no hostfile and no OMPI_MCA_* settings.
    const id = await sbatch(`--ntasks=2 -o mpi-%j.out --wrap 'mpirun -np 2 hostname'`);
    expect(await finalState(id)).toBe('COMPLETED|0:0');
    const lines = (await ok(`cat ${dir}/mpi-${id}.out`)).trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l.trim()).not.toBe('');
  });

  it('a job exceeding --mem ends OUT_OF_MEMORY (cgroup v1 ConstrainRAMSpace)', async () => {
    // tail buffers its whole input when it contains no newline: ~200 MB resident.
    const id = await sbatch(`--mem=50M -o /dev/null --wrap 'head -c 200M /dev/zero | tail >/dev/null'`);
    expect(await finalState(id)).toBe('OUT_OF_MEMORY|0:125');
  });

  it('the second user submits too; plain sacct lists only the caller\'s jobs', async () => {
    const id = await sbatch(`-o /dev/null --wrap true`, alias2);
    expect(await finalState(id, alias2)).toBe('COMPLETED|0:0');
    const mine = await ok(`sacct -X -P -n -o JobID,User -j ${id}`, alias2);
    expect(mine.trim()).toBe(`${id}|${env.user2.user}`);
    // Without -j, sacct lists the caller's own jobs only. (With -j it shows any user's job: no
    // PrivateData is set, as on most sites, so this is not an isolation boundary.)
    const firstUsers = (await ok('sacct -X -P -n -o JobID')).trim().split('\n');
    expect(firstUsers).not.toContain(id);
  });

  it('Torque wrappers: qsub, qstat, qdel', async () => {
    await ok(`printf '#!/bin/bash\\nsleep 60\\n' > ${dir}/pbs.sh`);
    const id = (await ok(`cd ${dir} && qsub pbs.sh`)).trim();
    expect(id).toMatch(/^\d+/);
    const before = await ok(`qstat ${id}`);
    expect(before).toMatch(new RegExp(`^${id}\\s.*\\s[QR]\\s+debug\\s*$`, 'm'));
    await ok(`qdel ${id}`);
    expect(await finalState(id)).toMatch(/^CANCELLED/);
    expect(await ok(`qstat ${id}`)).toMatch(new RegExp(`^${id}\\s.*\\sC\\s+debug\\s*$`, 'm'));
  });

  it('scancel cancels a running job', async () => {
    const id = await sbatch(`-o /dev/null --wrap 'sleep 60'`);
    await ok(`scancel ${id}`);
    expect(await finalState(id)).toMatch(/^CANCELLED/);
  });
});
