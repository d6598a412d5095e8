/**
 * Upgrades keep data. The previous release (commit e9018bf) is built from this repository's own
 * history into a temporary directory, and its daemon (its own `serve`) creates a database, a
 * scratch tree, tokens, an artifact and jobs, some still running when it stops. This build's
 * daemon then starts on the same files: every job, token and artifact is still there, the jobs
 * that were running finish normally with their outputs, and each user still sees only their own.
 *
 * The second test restores the daemon's own online backup (taken while a job runs) into a fresh
 * data directory and checks the same: the job the backup knew as running finishes.
 *
 * Every job waits for a flag file, never for a time, so no step depends on the machine's speed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/index.js';
import { startDaemon, type RunningDaemon } from '../../../src/daemon.js';
import { createLogger } from '../../../src/logging.js';
import { Maintenance } from '../../../src/ops/maintenance.js';
import { loadSettings } from '../../../src/settings/load.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The release before per-user identities. */
const PREVIOUS_RELEASE = 'e9018bf';

const work = mkdtempSync(join(tmpdir(), 'hpcb-upgrade-'));
// Jobs of the mapped account wait on a flag file here: the tree must be enterable by it.
chmodSync(work, 0o755);
mkdirSync(join(work, 'flags'), { mode: 0o755 });
/** The Unix account alice maps to once identities exist: hpcb-alice where the test can switch. */
const ALICE_ACCOUNT = process.getuid?.() === 0 ? 'hpcb-alice' : userInfo().username;
const running: (ChildProcess | RunningDaemon)[] = [];

afterAll(async () => {
  for (const r of running.reverse()) {
    if ('stop' in r) await r.stop();
    else if (r.exitCode === null) {
      r.kill('SIGTERM');
      await new Promise((res) => r.once('exit', res));
    }
  }
  // Jobs still waiting on a flag (only after a failed assertion) must not outlive the test.
  writeFileSync(join(work, 'flags', 'go'), '');
  rmSync(work, { recursive: true, force: true });
}, 120_000);

/** A daemon config file and one `direct` cluster file, the layout an operator has. */
function writeConfig(dir: string, dataDir: string, scratchRoot: string, users = ''): string {
  mkdirSync(join(dir, 'clusters.d'), { recursive: true });
  const daemon = join(dir, 'hpc-bridge.yaml');
  writeFileSync(daemon, `listen: { host: 127.0.0.1, port: 0 }\ndataDir: ${dataDir}\nlogLevel: info\ndefaultCluster: here\n${users}`, { mode: 0o640 });
  writeFileSync(join(dir, 'clusters.d', 'here.yaml'), `name: here\nscheduler: direct\ntransport: local\nscratchRoot: ${scratchRoot}\npollIntervalSeconds: 0.3\n`, { mode: 0o640 });
  return daemon;
}

function sh(cmd: string, cwd: string): string {
  const r = spawnSync('bash', ['-c', cmd], { cwd, encoding: 'utf8', env: { ...process.env, HPC_BRIDGE_TOKEN: '', HPCB_CONFIG: '' } });
  if (r.status !== 0) throw new Error(`${cmd} (in ${cwd}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The previous release, built from git history with this checkout's node_modules. */
function buildPreviousRelease(): string {
  const dir = join(work, 'previous');
  mkdirSync(dir);
  sh(`git -C ${JSON.stringify(ROOT)} archive ${PREVIOUS_RELEASE} | tar -x -C ${JSON.stringify(dir)}`, ROOT);
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(dir, 'node_modules'));
  sh('npm run build', dir);
  return join(dir, 'dist', 'src', 'cli', 'main.js');
}

/** Start `serve` of a built CLI; resolves with the URL from its "hpc-bridge started" line. */
async function serveProcess(main: string, config: string): Promise<{ proc: ChildProcess; url: string; log: () => string }> {
  const proc = spawn(process.execPath, [main, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HPCB_DATA_DIR: '' } });
  running.push(proc);
  let log = '';
  proc.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (b: Buffer) => {
      log += b.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(log);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`the daemon exited ${code}:\n${log}`)));
  });
  return { proc, url, log: () => log };
}

async function stopProcess(p: ChildProcess): Promise<void> {
  p.kill('SIGTERM');
  if (p.exitCode === null) await new Promise((r) => p.once('exit', r));
  expect(p.exitCode).toBe(0);
}

/** Polls the API (no sleeps of a chosen length: each wait is the daemon's own long-poll). */
async function statusOf(c: Client, id: number): Promise<string> {
  return (await c.getJob(id)).status;
}

async function untilStatus(c: Client, id: number, want: (s: string) => boolean): Promise<string> {
  for (;;) {
    const s = await statusOf(c, id);
    if (want(s)) return s;
    await c.waitJob(id, 1).catch(() => undefined);
  }
}

const waitingJob = (name: string, flag: string) => ({
  name,
  // Also ends when the test's directory is gone, so a failed run leaves no process behind.
  tasks: [{ cmd: `while [ ! -e ${flag} ] && [ -d ${dirname(flag)} ]; do sleep 0.1; done; echo "${name} finished"; echo "${name}-bytes" > out.txt` }],
  outputFiles: ['out.txt'],
});

function quietLogger() {
  return createLogger({
    level: 'info',
    destination: new Writable({
      write(_c, _e, cb) {
        cb();
      },
    }),
  });
}

describe('upgrading from the previous release', () => {
  let previousMain = '';
  beforeAll(() => {
    previousMain = buildPreviousRelease();
  }, 300_000);

  it("keeps every job, token and artifact; running jobs finish; owners still read their old jobs", async () => {
    const dataDir = join(work, 'data');
    const scratch = join(work, 'scratch');
    const config = writeConfig(join(work, 'etc'), dataDir, scratch);
    const flag = join(work, 'flags', 'go');

    // --- the previous release creates everything
    const old = await serveProcess(previousMain, config);
    const tokenOf = (user: string) => sh(`node ${JSON.stringify(previousMain)} token create --user ${user} --config ${JSON.stringify(config)}`, ROOT).trim().split('\n').at(-1)!.trim();
    const aliceToken = tokenOf('alice');
    const bobToken = tokenOf('bob');
    const aliceOld = new Client({ url: old.url, token: aliceToken });
    const bobOld = new Client({ url: old.url, token: bobToken });
    const blob = join(work, 'blob.bin');
    writeFileSync(blob, Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251)));
    const artifact = await aliceOld.uploadArtifact('data.bin', blob);
    const done = await aliceOld.createJob({
      name: 'done-before',
      tasks: [{ cmd: 'cat in.txt; wc -c < data.bin > size.txt' }],
      inputs: [{ filename: 'in.txt', content: Buffer.from('alice input\n').toString('base64'), executable: false }],
      artifacts: [{ url: 'data.bin' }],
      outputFiles: ['size.txt'],
    } as never);
    const aliceActive = await aliceOld.createJob(waitingJob('alice-active', flag) as never);
    const bobActive = await bobOld.createJob(waitingJob('bob-active', flag) as never);
    const aliceQueued = await aliceOld.createJob({ ...waitingJob('alice-later', flag), tasks: [{ cmd: 'echo later' }] } as never);
    expect(await untilStatus(aliceOld, done.id, (s) => ['completed', 'failed'].includes(s))).toBe('completed');
    await untilStatus(aliceOld, aliceActive.id, (s) => s === 'running');
    await untilStatus(bobOld, bobActive.id, (s) => s === 'running');
    await untilStatus(aliceOld, aliceQueued.id, (s) => s === 'completed');
    await stopProcess(old.proc);

    // --- this release on the same files
    const settings = loadSettings(config);
    const d = await startDaemon(settings, { logger: quietLogger() });
    running.push(d);
    const alice = new Client({ url: d.url, token: aliceToken });
    const bob = new Client({ url: d.url, token: bobToken });
    expect((await alice.listJobs({ all: true })).map((j) => j.id).sort((a, b) => a - b)).toEqual([done.id, aliceActive.id, aliceQueued.id].sort((a, b) => a - b));
    expect((await bob.listJobs({ all: true })).map((j) => j.id)).toEqual([bobActive.id]);
    const arts = await alice.listArtifacts();
    expect(arts.map((a) => [a.name, a.size, a.sha256])).toEqual([['data.bin', artifact.size, artifact.sha256]]);
    expect(await bob.listArtifacts()).toEqual([]);

    // Old finished jobs stay readable by their owner, and only by their owner.
    expect((await alice.readLog(done.id, 'stdout')).text).toContain('alice input');
    expect((await alice.downloadOutput(done.id, 'size.txt')).toString().trim()).toBe('70000');
    await expect(bob.getJob(done.id)).rejects.toMatchObject({ status: 404 });

    // The jobs that were running under the previous release finish under this one.
    expect(await statusOf(alice, aliceActive.id)).toBe('running');
    writeFileSync(flag, '');
    expect(await untilStatus(alice, aliceActive.id, (s) => !['running', 'pending', 'submitting', 'queued'].includes(s))).toBe('completed');
    expect(await untilStatus(bob, bobActive.id, (s) => !['running', 'pending', 'submitting', 'queued'].includes(s))).toBe('completed');
    expect((await alice.downloadOutput(aliceActive.id, 'out.txt')).toString()).toBe('alice-active-bytes\n');
    expect((await bob.downloadOutput(bobActive.id, 'out.txt')).toString()).toBe('bob-active-bytes\n');
    await expect(bob.downloadOutput(aliceActive.id, 'out.txt')).rejects.toMatchObject({ status: 404 });

    // A new job is not quietly run under the old single account: with the old files unchanged,
    // a user without an identity is refused, naming the cluster, until the operator maps them.
    await expect(alice.createJob({ name: 'after', tasks: [{ cmd: 'true' }] } as never)).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('user "alice" has no identity on cluster "here"'),
    });
    rmSync(flag);
  }, 300_000);
});

describe("restoring the daemon's own online backup", () => {
  it('a job running when the backup was taken finishes after the restore into a fresh dataDir', async () => {
    const dataDir = join(work, 'backup-data');
    const scratch = join(work, 'backup-scratch', '{user}');
    const flag = join(work, 'flags', 'go-backup');
    const users = `users:\n  alice:\n    identities:\n      here: { user: ${ALICE_ACCOUNT} }\n`;
    const config = writeConfig(join(work, 'backup-etc'), dataDir, scratch, users);
    const settings = loadSettings(config);
    const first = await startDaemon(settings, { logger: quietLogger() });
    running.push(first);
    const token = sh(`node --import tsx src/cli/main.ts token create --user alice --config ${JSON.stringify(config)}`, ROOT).trim().split('\n').at(-1)!.trim();
    const alice = new Client({ url: first.url, token });
    const finished = await alice.createJob({ name: 'finished', tasks: [{ cmd: 'echo finished before the backup' }] } as never);
    expect(await untilStatus(alice, finished.id, (s) => ['completed', 'failed'].includes(s))).toBe('completed');
    const active = await alice.createJob(waitingJob('restored', flag) as never);
    await untilStatus(alice, active.id, (s) => s === 'running');

    // The nightly task's own code path, while the daemon serves and the job runs.
    const maint = new Maintenance({ store: first.bridge.store, settings, log: quietLogger(), runtime: (c) => first.bridge.reconciler(c)?.rt });
    const report = await maint.backup();
    await maint.stop();
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // Restore as DEPLOY.md says, into a data directory that never saw the live database.
    const freshData = join(work, 'restored-data');
    mkdirSync(freshData, { mode: 0o700 });
    cpSync(report.file, join(freshData, 'hpc-bridge.db'));
    // Artifacts and collected outputs are plain files beside the database, copied as they are.
    for (const sub of ['artifacts', 'outputs']) if (existsSync(join(dataDir, sub))) cpSync(join(dataDir, sub), join(freshData, sub), { recursive: true });
    const restoredConfig = writeConfig(join(work, 'restored-etc'), freshData, scratch, users);
    const second = await startDaemon(loadSettings(restoredConfig), { logger: quietLogger() });
    running.push(second);
    const again = new Client({ url: second.url, token });
    expect(await statusOf(again, finished.id)).toBe('completed');
    expect((await again.readLog(finished.id, 'stdout')).text.trim()).toBe('finished before the backup');
    expect(await statusOf(again, active.id)).toBe('running');
    writeFileSync(flag, '');
    expect(await untilStatus(again, active.id, (s) => !['running', 'pending', 'submitting', 'queued'].includes(s))).toBe('completed');
    expect((await again.downloadOutput(active.id, 'out.txt')).toString()).toBe('restored-bytes\n');
    expect((await again.getJob(active.id)).clusterUser).toBe(ALICE_ACCOUNT);
    expect(readFileSync(join(freshData, 'hpc-bridge.db')).length).toBeGreaterThan(0);
  }, 300_000);
});
