/**
 * Container tasks that really run: `runtime: podman` on the real Slurm test cluster, rootless, as
 * the job's own Unix account (alice runs as hpcuser, bob as hpcuser2), in the image that
 * test/cluster/podman.sh builds from the host's Debian binaries and imports into each account's
 * own storage. Inside the image (its marker file), in the job directory, with the inputs there,
 * the outputs collected, exit codes, walltime and memory kills reported as for plain tasks; an
 * image the account does not have fails the job with the image named; MPI with podman is refused
 * at creation.
 */
import { posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { BridgeError } from '../../src/domain/errors.js';
import { runtimeForJob } from '../../src/engine/cluster.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import type { JobRecord } from '../../src/store/store.js';
import { labSettings, onLoginAs, type Lab } from './support/lab.js';

/** The image test/cluster/podman.sh imports (PODMAN_IMAGE there) and the text of its marker file. */
const IMAGE = 'localhost/hpcb-test:1';
const MARKER = 'hpcb-test-image';
const b64 = (s: string) => Buffer.from(s).toString('base64');

let lab: Lab;
let bridge: Bridge;

beforeAll(async () => {
  lab = labSettings({ identities: true, pollIntervalSeconds: 1 });
  // A cluster brought up by an older up.sh has no podman or no image: say so, never skip. Read
  // from the storage's index, not with podman: podman run here, in the login node's namespace
  // (no cgroup mounts), would leave the account a user-namespace process that every later
  // podman of the account joins, jobs included (test/cluster/podman.sh).
  for (const who of [lab.env, lab.env.user2]) {
    const r = await onLoginAs(lab.env, who, `command -v podman && grep -qF '"${IMAGE}"' ~/.local/share/containers/storage/*-images/images.json`);
    if (r.code !== 0) throw new Error(`${who.user} has no podman or no image ${IMAGE}: run test/cluster/up.sh from this checkout`);
  }
  bridge = Bridge.open(lab.settings);
  bridge.start();
});
afterAll(async () => {
  await bridge?.close();
  const leaf = String(lab.cluster.scratchRoot).split('/').at(-1)!;
  await onLoginAs(lab.env, lab.env, `rm -rf ${lab.env.scratchRoot}/${leaf}`).catch(() => undefined);
  await onLoginAs(lab.env, lab.env.user2, `rm -rf ${lab.env.user2.scratchRoot}/${leaf}`).catch(() => undefined);
});

async function run(owner: string, def: unknown, timeoutMs = 180_000): Promise<JobRecord> {
  const { job } = bridge.submit(owner, def);
  const done = await bridge.wait(job.id, timeoutMs);
  expect(done.status, `job ${job.id} should be terminal (is ${done.state}: ${done.statusReason})`).toMatch(/completed|failed|killed|deleted/);
  return done;
}

function jobDir(job: JobRecord): string {
  const rt = runtimeForJob(bridge.reconciler('lab')!.rt, job);
  return jobDirFor(rt.scratchRoot, bridge.store.instanceId(), job.id);
}

async function readJobFile(job: JobRecord, rel: string): Promise<string> {
  const rt = runtimeForJob(bridge.reconciler('lab')!.rt, job);
  const buf = await rt.transport.readRange(posix.join(jobDir(job), rel), 0, 1 << 20);
  return buf ? buf.toString('utf8') : '';
}

/** Every task's stderr, for an assertion's message. */
async function stderrs(job: JobRecord): Promise<string> {
  const all = await Promise.all(job.spec.tasks.map((_t, i) => readJobFile(job, `.hpcb/task.${i}.stderr`)));
  return `job ${job.id} ${job.status}: ${job.statusReason ?? ''}; stderr: ${all.map((e, i) => `[${i}] ${e}`).join(' ')}`;
}

async function output(job: JobRecord, owner: string, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of (await bridge.staging.openOutput(job.id, owner, name)).stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const podman = (cmd: string, extra: Record<string, unknown> = {}) => ({ cmd, image: IMAGE, runtime: 'podman', ...extra });

describe.concurrent('podman tasks on Slurm', () => {
  it('run inside the image as the job\'s own account, in the job directory, with inputs, environment and outputs', async () => {
    const script = [
      `cat /etc/hpcb-image; id -un; id -u; pwd`,
      'echo "alpha=$ALPHA job=$HPCB_JOB_ID"',
      'tr a-z A-Z < in.txt > out.txt',
      'mkdir -p res && echo deep > res/r.txt',
      // The host's programs are not there: the image has no python3 (the host has).
      'if command -v python3 >/dev/null; then echo host-python; else echo no-python; fi',
    ].join('; ');
    const [bob, alice] = await Promise.all([
      run('bob', {
        name: 'podman-bob',
        // XDG_RUNTIME_DIR as a login session on another node would export it: the bridge must
        // not let podman use a directory that does not exist here.
        tasks: [podman(script, { env: { ALPHA: "it's 0.5", XDG_RUNTIME_DIR: '/run/user/4242' } }), podman('pwd; cat r.txt; stat -c "%U %a" ../out.txt', { workdir: 'res' })],
        inputs: [{ filename: 'in.txt', content: b64('hello from the input\n') }],
        outputFiles: ['out.txt'],
        outputDirs: ['res'],
      }),
      run('alice', { name: 'podman-alice', tasks: [podman('id -un; echo to stderr >&2; exit 3')] }),
    ]);

    expect(bob.status, await stderrs(bob)).toBe('completed');
    expect(bob.taskExitCodes).toEqual([0, 0]);
    expect(bob.clusterUser).toBe(lab.env.user2.user);
    const uid = (await onLoginAs(lab.env, lab.env.user2, 'id -u')).stdout.trim();
    expect(await readJobFile(bob, '.hpcb/task.0.stdout')).toBe(
      `${MARKER}\n${lab.env.user2.user}\n${uid}\n${jobDir(bob)}\nalpha=it's 0.5 job=${bob.id}\nno-python\n`,
    );
    expect(await readJobFile(bob, '.hpcb/task.0.stderr')).toBe('');
    // Written inside the container, owned by the account on the cluster, private as a plain task's.
    expect(await readJobFile(bob, '.hpcb/task.1.stdout')).toBe(`${jobDir(bob)}/res\ndeep\n${lab.env.user2.user} 600\n`);
    expect(await output(bob, 'bob', 'out.txt')).toBe('HELLO FROM THE INPUT\n');
    expect(bridge.staging.listOutputs(bob.id, 'bob').outputs.map((f) => f.name).sort()).toEqual(['out.txt', 'res.tar.gz']);

    expect(alice.status).toBe('failed');
    expect(alice.statusReason).toBe('task exited with code 3');
    expect(alice.exitCode).toBe(3);
    expect(alice.clusterUser).toBe(lab.env.user);
    expect(await readJobFile(alice, '.hpcb/task.0.stdout')).toBe(`${lab.env.user}\n`);
    expect(await readJobFile(alice, '.hpcb/task.0.stderr')).toBe('to stderr\n');
  });

  it('an image the account does not have fails the job with the image named, and nothing is pulled', async () => {
    const job = await run('bob', { tasks: [podman('echo never'), podman('true', { image: 'localhost/hpcb-absent:1' })] });
    expect(job.status, await stderrs(job)).toBe('failed');
    expect(job.statusReason, await stderrs(job)).toBe('container image "localhost/hpcb-absent:1" is not available to podman on the node (it is never pulled); task 2 did not run');
    expect(job.taskExitCodes).toEqual([0, 125]);
    expect(await readJobFile(job, '.hpcb/task.1.stderr')).toMatch(/container image localhost\/hpcb-absent:1 is not in the podman storage of hpcuser2/);
  });

  it('a walltime overrun is killed as a plain task is, and leaves no container behind', async () => {
    const job = await run('alice', { tasks: [podman('sleep 613')], resources: { walltime: 1 } }, 240_000);
    expect(job.status, await stderrs(job)).toBe('killed');
    expect(job.statusReason).toBe('walltime of 1 minute exceeded');
    expect(job.nativeFinal?.nativeState).toMatch(/TIMEOUT/);
    expect(await readJobFile(job, '.hpcb/terminated')).toMatch(/^TERM \d+ 0\n$/);
    const left = await onLoginAs(lab.env, lab.env, 'pgrep -u "$(id -u)" -f "sleep 61[3]" || true');
    expect(left.stdout.trim()).toBe('');
  }, 270_000);

  it('over its memory, the container is killed and the job reported "memory limit exceeded"', async () => {
    // `tail` of an endless file with no newline keeps it all in memory.
    const job = await run('bob', { tasks: [podman('tail /dev/zero')], resources: { memory: 0.1 } });
    expect(job.status, await stderrs(job)).toBe('killed');
    expect(job.statusReason).toBe('memory limit exceeded');
    // The container has a memory cgroup of its own below the job's (podman.ts says why), so
    // Slurm's own state says FAILED, not OUT_OF_MEMORY: the verdict rests on the runner's
    // evidence, SIGKILL while the job's cgroup was at its limit.
    expect(job.nativeFinal?.nativeState).toMatch(/FAILED|OUT_OF_MEMORY/);
    expect(job.exitCode).toBe(137);
    expect(await readJobFile(job, '.hpcb/task.0.stderr')).toMatch(/oom-kill/);
  });

  it('an MPI task with podman is refused at creation, naming the field', () => {
    let err: unknown;
    try {
      bridge.submit('alice', { tasks: [podman('./solver', { type: 'openmpi' })], resources: { cpus: 2 } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BridgeError);
    expect((err as BridgeError).code).toBe('INVALID_DEFINITION');
    expect((err as BridgeError).message).toBe('invalid job definition: tasks[0].runtime: podman cannot run an MPI task (type "openmpi"): use apptainer or singularity, or type "basic"');
  });
});
