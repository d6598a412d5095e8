/**
 * Personal mode, as docs/DEPLOY.md shows it first: an ordinary Unix user runs the daemon as
 * themselves (here hpcb-alice, started from the root test process through setpriv, as the
 * systemd user manager would start it), on a `direct` cluster, with a token for themselves.
 * Jobs run as that user and nobody else, their directories are theirs, and tokens work as
 * everywhere: no token or a wrong one is refused.
 *
 * Needs root (to become the user) and the account hpcb-alice from test/cluster/up.sh; under CI
 * either missing is a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { lookupAccount } from '../../src/transport/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const USER = 'hpcb-alice';
const account = lookupAccount(USER);
const usable = process.getuid?.() === 0 && account !== undefined;
if (process.env.CI === 'true' && !usable) throw new Error(`personal mode tests need root and the account ${USER} (test/cluster/up.sh creates it)`);

const work = mkdtempSync(join(tmpdir(), 'hpcb-personal-'));
let daemon: ChildProcess | undefined;
let log = '';

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon!.once('exit', r));
  }
  rmSync(work, { recursive: true, force: true });
});

/** argv that runs a command as USER with a plain environment, the way a user manager would. */
function asUser(argv: string[]): [string, string[]] {
  const a = account!;
  return ['setpriv', [`--reuid=${a.uid}`, `--regid=${a.gid}`, '--init-groups', '--', 'env', '-i', `PATH=${process.env.PATH}`, `HOME=${join(work, 'home')}`, `USER=${USER}`, `LOGNAME=${USER}`, ...argv]];
}

const cli = (...args: string[]) => ['node', '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args];

describe.runIf(usable)('personal mode: the daemon runs as an ordinary user', () => {
  it('runs jobs as that user only, in directories only that user can enter, behind tokens', async () => {
    const etc = join(work, 'etc');
    const data = join(work, 'data');
    mkdirSync(join(etc, 'clusters.d'), { recursive: true });
    mkdirSync(join(work, 'home'));
    // As DEPLOY.md shows it: the cluster's one account (the daemon's, the user's own) is shared.
    writeFileSync(join(etc, 'hpc-bridge.yaml'), `listen: { host: 127.0.0.1, port: 0 }\ndataDir: ${data}\ndefaultCluster: here\n`, { mode: 0o600 });
    writeFileSync(join(etc, 'clusters.d', 'here.yaml'), `name: here\nscheduler: direct\ntransport: local\nsharedAccount: true\nscratchRoot: ${join(work, 'scratch')}\npollIntervalSeconds: 0.3\n`, { mode: 0o600 });
    for (const p of [work, etc, join(etc, 'clusters.d'), join(etc, 'hpc-bridge.yaml'), join(etc, 'clusters.d', 'here.yaml'), join(work, 'home')]) chownSync(p, account!.uid, account!.gid);
    const config = join(etc, 'hpc-bridge.yaml');

    const [cmd, args] = asUser(cli('serve', '--config', config));
    daemon = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      daemon!.stdout!.on('data', (b: Buffer) => {
        log += b.toString();
        const m = /"url":"(http:\/\/[^"]+)"/.exec(log);
        if (m) resolve(m[1]!);
      });
      daemon!.once('exit', (code) => reject(new Error(`daemon exited ${code}:\n${log}`)));
    });

    // The token is made by the same user, on the database only that user can open.
    const [tc, ta] = asUser(cli('token', 'create', '--user', USER, '--config', config));
    const made = spawnSync(tc, ta, { cwd: ROOT, encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const token = made.stdout.trim().split('\n').at(-1)!.trim();
    expect(statSync(data).uid).toBe(account!.uid);
    expect(statSync(data).mode & 0o077).toBe(0);

    const me = new Client({ url, token });
    const job = await me.createJob({ name: 'whoami', tasks: [{ cmd: 'id -un; id -u' }], outputFiles: [] } as never);
    const done = await me.waitJob(job.id, 120);
    expect(done.status, log).toBe('completed');
    expect((await me.readLog(job.id, 'stdout')).text).toBe(`${USER}\n${account!.uid}\n`);

    // Its directory on "the cluster" (this machine) belongs to the user and is closed to others.
    const jobsDir = join(work, 'scratch', 'jobs');
    const dirs = readdirSync(jobsDir);
    expect(dirs.length).toBe(1);
    const st = statSync(join(jobsDir, dirs[0]!));
    expect(st.uid).toBe(account!.uid);
    expect(st.mode & 0o777).toBe(0o700);

    // Tokens: none, a wrong one.
    await expect(new Client({ url, token: 'hpcb_wrong' }).listJobs()).rejects.toMatchObject({ status: 401 });
    const res = await fetch(`${url}/api/v1/jobs`);
    expect(res.status).toBe(401);
  }, 180_000);
});
