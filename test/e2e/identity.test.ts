/**
 * Identities on the real test cluster: the bridge users alice and bob run as the Unix accounts
 * hpcuser and hpcuser2, each with its own key and its own 0700 scratch under its home. Tried as
 * a user's job would: bob's job knows the exact paths of alice's job directories (as if it had
 * guessed them), walks up from its own directory, searches the file systems, and stages the
 * same artifact bytes alice's job uses. It can list, read and write nothing of alice's: not her
 * inputs, outputs, logs, the bridge's exit and status files, her queued job's script, nor her
 * artifact cache. Alice's job then completes with exactly her outputs. The unrelated account
 * hpcother, logged in with its own key, fares no better.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import { checkIdentities } from '../../src/ops/check.js';
import type { TransportPool } from '../../src/transport/pool.js';
import { labSettings, onLogin, onLoginAs, until, type Lab } from './support/lab.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const SECRET = `alice-secret-${randomBytes(8).toString('hex')}`;
const ARTIFACT = randomBytes(64 << 10);
const artifactSha = createHash('sha256').update(ARTIFACT).digest('hex');

let lab: Lab;
let bridge: Bridge;
const pool = () => (bridge.reconciler('lab')!.rt as unknown as { pool: TransportPool }).pool;

beforeAll(async () => {
  lab = labSettings({ identities: true, pollIntervalSeconds: 1, ssh: { idleSeconds: 4 } });
  if (!lab.env.other) throw new Error('the test cluster has no third account: run test/cluster/up.sh from this checkout');
  bridge = Bridge.open(lab.settings);
  bridge.start();
});
afterAll(async () => {
  await bridge?.close();
  const leaf = String(lab.cluster.scratchRoot).split('/').at(-1)!;
  await onLogin(lab.env, `rm -rf ${lab.env.scratchRoot}/${leaf}`).catch(() => undefined);
  await onLoginAs(lab.env, lab.env.user2, `rm -rf ${lab.env.user2.scratchRoot}/${leaf}`);
});

/**
 * A probe program: each line `<name> <command>`; prints `PROBE <name> ok` when the command
 * succeeded and `PROBE <name> denied` when it failed, and the command's output after it.
 */
function probes(list: [string, string][]): string {
  return list.map(([n, c]) => `if out=$( { ${c} ; } 2>&1 ); then echo "PROBE ${n} ok"; else echo "PROBE ${n} denied"; fi; printf '%s\\n' "$out"`).join('\n');
}

function attacks(a: { running: string; queued: string; cache: string; root: string; home: string }): [string, string][] {
  return [
    ['list-running', `ls -la ${a.running}`],
    ['read-input', `cat ${a.running}/secret.txt`],
    ['read-output', `cat ${a.running}/out.txt`],
    ['read-log', `cat ${a.running}/.hpcb/task.0.stdout`],
    ['read-started', `cat ${a.running}/.hpcb/started`],
    ['read-script', `cat ${a.running}/.hpcb/job.sh`],
    ['read-queued-script', `cat ${a.queued}/.hpcb/job.sh`],
    ['write-queued-script', `echo 'echo pwned' >> ${a.queued}/.hpcb/job.sh`],
    ['write-output', `echo forged > ${a.running}/out.txt`],
    ['write-exit', `echo 0 > ${a.running}/.hpcb/exit`],
    ['write-go', `touch ${a.running}/go`],
    ['list-cache', `ls -la ${a.cache}`],
    ['read-cache', `cat ${a.cache}/${artifactSha} >/dev/null`],
    ['list-root', `ls -la ${a.root}`],
    ['list-jobs', `ls ${a.root}/jobs`],
    ['list-scratch', `ls ${a.home}/hpcb`],
    // Searching where the cluster keeps users' files for anything that holds alice's secret
    // (the pattern is split so that the probe's own script does not hold it).
    ['search', `grep -rl "${SECRET.slice(0, 10)}""${SECRET.slice(10)}" /home /var/tmp /dev/shm 2>/dev/null | grep .`],
  ];
}

describe('identities on the real cluster', () => {
  it('config check logs in as each identity; a key that the account does not accept is named', async () => {
    const c = lab.settings.clusters[0]!;
    const ok = await checkIdentities(c, lab.settings.daemon);
    expect(ok.map((s) => [s.ok, s.detail])).toEqual([
      [true, `user alice: logged in to ${lab.env.user}@${lab.env.host}:${lab.env.port}`],
      [true, `user bob: logged in to ${lab.env.user2.user}@${lab.env.host}:${lab.env.port}`],
    ]);
    // bob's account with alice's key: refused by sshd, and the check says whose and where.
    const wrong = { ...lab.settings.daemon, users: { bob: { accounts: {}, identities: { lab: { user: lab.env.user2.user, privateKey: lab.env.privateKey } } } } };
    const [bad] = await checkIdentities(c, wrong);
    expect(bad!.ok).toBe(false);
    expect(bad!.detail).toMatch(new RegExp(`^user bob: ${lab.env.user2.user}@.*(denied|authentication|auth)`, 'i'));
  });

  it('a user without an identity on the cluster is refused, naming the cluster', () => {
    expect(() => bridge.submit('carol', { tasks: [{ cmd: 'true' }] })).toThrow(/cluster: user "carol" has no identity on cluster "lab"/);
  });

  it("bob's job can list, read and write nothing of alice's; alice's job completes with her exact outputs", async () => {
    await bridge.staging.putArtifact('alice', 'shared.bin', Readable.from([ARTIFACT]));
    await bridge.staging.putArtifact('bob', 'shared.bin', Readable.from([ARTIFACT]));
    // Alice: one job that runs until told to finish, one queued in the DOWN partition.
    const running = bridge.submit('alice', {
      name: 'alice-running',
      inputs: [{ filename: 'secret.txt', content: b64(`${SECRET}\n`) }],
      artifacts: [{ url: 'shared.bin' }],
      tasks: [{ cmd: 'cat secret.txt > out.txt; sha256sum shared.bin | cut -c1-64 >> out.txt; echo "$USER" >> out.txt; while [ ! -f go ]; do sleep 0.5; done; echo done >> out.txt; cat out.txt' }],
      outputFiles: ['out.txt'],
    }).job;
    const queued = bridge.submit('alice', { name: 'alice-queued', queue: 'parked', inputs: [{ filename: 'secret.txt', content: b64(`${SECRET}\n`) }], tasks: [{ cmd: 'cat secret.txt' }] }).job;
    await until('alice\'s jobs on the cluster', () => bridge.get(running.id)!.state === 'running' && bridge.get(queued.id)!.state === 'queued', 120_000);

    const rt = bridge.reconciler('lab')!.rt;
    const inst = bridge.store.instanceId();
    const aliceRoot = rt.forAccount!(lab.env.user).scratchRoot;
    const bobRoot = rt.forAccount!(lab.env.user2.user).scratchRoot;
    expect(aliceRoot).toBe(String(lab.cluster.scratchRoot).replace('{user}', lab.env.user));
    expect(bobRoot).not.toBe(aliceRoot);
    const targets = {
      running: jobDirFor(aliceRoot, inst, running.id),
      queued: jobDirFor(aliceRoot, inst, queued.id),
      cache: `${aliceRoot}/artifacts`,
      root: aliceRoot,
      home: lab.env.scratchRoot.replace(/\/hpcb$/, ''),
    };
    // Alice's tree as she sees it: owner-only, all the way from her scratch root.
    const modes = await onLogin(lab.env, `stat -c '%a %U %n' ${lab.env.scratchRoot} ${aliceRoot} ${aliceRoot}/jobs ${targets.running} ${targets.running}/.hpcb ${targets.running}/.hpcb/job.sh ${targets.running}/secret.txt ${targets.cache} ${targets.cache}/${artifactSha}`);
    for (const line of modes.trim().split('\n')) expect(line, line).toMatch(new RegExp(`^[0-7]00 ${lab.env.user} `));

    // Bob's job: the same artifact bytes (staged into his own cache), then every attack, walking up from its own directory first.
    const walkUp = 'd=$PWD; while [ "$d" != / ]; do d=$(dirname "$d"); echo "WALK $d"; ls -la "$d" 2>&1 | sed "s/^/  /"; done';
    const bob = bridge.submit('bob', {
      name: 'bob-probe',
      artifacts: [{ url: 'shared.bin' }],
      tasks: [{ cmd: `${walkUp}\n${probes(attacks(targets))}\necho "CACHE $(stat -c '%a %U %i' ${bobRoot}/artifacts/${artifactSha})"\nid -un` }],
    }).job;
    const bobDone = await bridge.wait(bob.id, 180_000);
    expect(bobDone.status, bobDone.statusReason ?? '').toBe('completed');
    const out = (await bridge.staging.readLog(bob.id, 'bob', 'stdout')).data.toString();
    expect(out).not.toContain(SECRET);
    expect(out.trim().split('\n').at(-1)).toBe(lab.env.user2.user);
    const verdicts = out.split('\n').filter((l) => l.startsWith('PROBE '));
    expect(verdicts).toEqual(attacks(targets).map(([n]) => `PROBE ${n} denied`));
    // Walking up lists nothing inside alice's tree, and bob's artifact copy is his own file.
    for (const l of out.split('\n').filter((x) => x.startsWith('WALK '))) expect(l.slice(5).startsWith(aliceRoot)).toBe(false);
    const cache = /CACHE ([0-7]00) (\S+) (\d+)/.exec(out);
    expect(cache?.slice(1, 3)).toEqual(['400', lab.env.user2.user]);
    const aliceInode = (await onLogin(lab.env, `stat -c %i ${targets.cache}/${artifactSha}`)).trim();
    expect(cache?.[3]).not.toBe(aliceInode);

    // The unrelated account, logged in with its own key, the same.
    for (const [n, c] of attacks(targets)) {
      const r = await onLoginAs(lab.env, lab.env.other!, c);
      expect(r.code, `hpcother ${n}: ${r.stdout}`).not.toBe(0);
      expect(r.stdout).not.toContain(SECRET);
    }

    // Alice's job: untouched, and it completes with exactly what it wrote.
    await onLogin(lab.env, `touch ${targets.running}/go`);
    const done = await bridge.wait(running.id, 120_000);
    expect(done.status, done.statusReason ?? '').toBe('completed');
    const chunks: Buffer[] = [];
    for await (const c of (await bridge.staging.openOutput(running.id, 'alice', 'out.txt')).stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(`${SECRET}\n${artifactSha}\n${lab.env.user}\ndone\n`);
    expect(await onLogin(lab.env, `cat ${targets.queued}/.hpcb/job.sh`)).not.toContain('pwned');
    bridge.cancel(queued.id);
    await bridge.wait(queued.id, 60_000);

    // Each job under its own Unix account: in the job records and in Slurm's accounting.
    expect(bridge.get(running.id)!.clusterUser).toBe(lab.env.user);
    expect(bridge.get(bob.id)!.clusterUser).toBe(lab.env.user2.user);
    const ids = [done.nativeId!, bobDone.nativeId!];
    const sacct = await until(
      'both jobs in accounting',
      async () => {
        const rows = (await onLogin(lab.env, `sacct -a -X -n -P -j ${ids.join(',')} -o JobID,User`)).trim().split('\n').filter(Boolean);
        return rows.length === 2 ? rows : undefined;
      },
      60_000,
    );
    expect(Object.fromEntries(sacct.map((r) => r.split('|')))).toEqual({ [ids[0]!]: lab.env.user, [ids[1]!]: lab.env.user2.user });
  }, 480_000);

  it('one connection per identity with work, and idle ones are closed', async () => {
    // After the jobs above both identities had been open; nothing active now, so both close.
    expect(pool().stats().identities).toBeGreaterThanOrEqual(2);
    // An account's event follower holds its connection for a minute after its last job (a
    // create-wait-read loop's next job should not pay for a new follower), then it closes too.
    await until('idle connections closed', () => pool().stats().open === 0, 180_000);
    const closedBefore = pool().stats().idleClosed;
    expect(closedBefore).toBeGreaterThanOrEqual(2);
    // The login node agrees: no sshd session of either account is left.
    const sessions = async (u: string) => Number((await onLogin(lab.env, `pgrep -c -u ${u} -x sshd || true`)).trim() || '0');
    expect(await until('sshd sessions gone', async () => ((await sessions(lab.env.user2.user)) === 0 ? true : undefined), 30_000)).toBe(true);

    // Work for bob alone opens bob's connection alone.
    const j = bridge.submit('bob', { tasks: [{ cmd: 'id -un' }] }).job;
    await until('bob\'s connection open', () => pool().openIdentities().includes(lab.env.user2.user), 60_000);
    expect(pool().openIdentities()).not.toContain(lab.env.user);
    expect((await bridge.wait(j.id, 120_000)).status).toBe('completed');
    expect((await bridge.staging.readLog(j.id, 'bob', 'stdout')).data.toString()).toBe(`${lab.env.user2.user}\n`);
  }, 420_000);
});
