/**
 * Two bridge users mapped to two Unix accounts on a `direct` cluster, with the daemon running as
 * root (the case where a mistake would hand every user root). User B's job tries, as a user's
 * job would, to list, read or change anything of user A's: A's job directory, input, artifact,
 * queued script, logs, the bridge's exit-code and status files, A's artifact cache, the
 * daemon's own data directory; by the exact path (the best guess there is) and by walking up
 * from its own directory. Every attempt must fail, nothing of A's may appear in B's output,
 * and A's job, released afterwards, must complete with exactly its own outputs.
 *
 * Needs root and the accounts hpcb-alice and hpcb-bob from test/cluster/up.sh; under CI either
 * missing is a failure.
 */
import { chmodSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { shellQuote } from '../../src/domain/quote.js';
import { jobDirFor } from '../../src/jobdir/layout.js';
import { buildSettings } from '../../src/settings/load.js';
import { lookupAccount } from '../../src/transport/index.js';

const alice = lookupAccount('hpcb-alice');
const bob = lookupAccount('hpcb-bob');
const usable = process.getuid?.() === 0 && alice !== undefined && bob !== undefined;
if (process.env.CI === 'true' && !usable) throw new Error('direct account isolation needs root and the accounts hpcb-alice, hpcb-bob (test/cluster/up.sh creates them)');

const work = mkdtempSync(join(tmpdir(), 'hpcb-direct-accounts-'));
let bridge: Bridge | undefined;
afterAll(async () => {
  writeFileSync(join(work, 'flags', 'go'), '');
  await bridge?.close();
  rmSync(work, { recursive: true, force: true });
});

const SECRET = 'alice-secret-7f3a9c';

async function until<T>(what: string, f: () => T | undefined, b: Bridge, id: number): Promise<T> {
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    const j = await b.wait(id, 2000);
    if (j && ['failed', 'cancelled', 'lost'].includes(j.status)) throw new Error(`${what}: job ${id} ended ${j.status}: ${j.statusReason}`);
  }
}

async function output(b: Bridge, id: number, owner: string, name: string): Promise<string> {
  const { stream } = await b.staging.openOutput(id, owner, name);
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

describe.runIf(usable)('direct with two mapped Unix accounts, daemon as root', () => {
  it("B's job can neither see nor touch anything of A's; A's job completes with its exact outputs", async () => {
    chmodSync(work, 0o755);
    mkdirSync(join(work, 'flags'), { mode: 0o755 });
    const dataDir = join(work, 'data');
    const scratchRoot = join(work, 'scratch', '{user}', 'hpc-bridge');
    const settings = buildSettings(
      {
        dataDir,
        users: {
          alice: { identities: { here: { user: 'hpcb-alice' } } },
          bob: { identities: { here: { user: 'hpcb-bob' } } },
        },
      },
      [{ file: '(test)', raw: { name: 'here', scheduler: 'direct', transport: 'local', scratchRoot, pollIntervalSeconds: 0.2, lostGraceSeconds: 30 } }],
    );
    bridge = Bridge.open(settings);
    bridge.start();
    const b = bridge;
    const flag = join(work, 'flags', 'go');

    // A: an input with a secret, an artifact, a job that waits (so B runs while A's files are live).
    const blob = join(work, 'artifact.bin');
    // The upload's source stands for A's own laptop: private to the test, not part of the bridge.
    writeFileSync(blob, `${SECRET}-artifact\n`, { mode: 0o600 });
    await b.staging.putArtifact('alice', 'data.bin', createReadStream(blob));
    const a = b.submit('alice', {
      name: 'a',
      tasks: [{ cmd: `cat in.txt data.bin; while [ ! -e ${shellQuote(flag)} ] && [ -d ${shellQuote(join(work, 'flags'))} ]; do sleep 0.1; done; printf '%s\\n' "${SECRET}-out" > out.txt; id -un` }],
      inputs: [{ filename: 'in.txt', content: Buffer.from(`${SECRET}-input\n`).toString('base64'), executable: false }],
      artifacts: [{ url: 'data.bin' }],
      outputFiles: ['out.txt'],
    } as never).job;
    await until('A running', () => (b.get(a.id)?.status === 'running' ? true : undefined), b, a.id);

    const instance = b.store.instanceId();
    const aRoot = scratchRoot.replace('{user}', 'hpcb-alice');
    const aDir = jobDirFor(aRoot, instance, a.id);
    const before = {
      script: readFileSync(join(aDir, '.hpcb', 'job.sh')),
      input: readFileSync(join(aDir, 'in.txt')),
    };

    // B: every way in it can think of. Each attempt prints "<name> <exit status>" and what it read.
    const targets: Record<string, string> = {
      'list A job dir': `ls -la ${shellQuote(aDir)}`,
      'read A input': `cat ${shellQuote(join(aDir, 'in.txt'))}`,
      'read A artifact': `cat ${shellQuote(join(aDir, 'data.bin'))}`,
      'read A script': `cat ${shellQuote(join(aDir, '.hpcb', 'job.sh'))}`,
      'read A stdout': `cat ${shellQuote(join(aDir, '.hpcb', 'task.0.stdout'))}`,
      'write A script': `echo 'echo owned' > ${shellQuote(join(aDir, '.hpcb', 'job.sh'))}`,
      'write A exit file': `echo '0 -1' > ${shellQuote(join(aDir, '.hpcb', 'exit'))}`,
      'write A output': `echo forged > ${shellQuote(join(aDir, 'out.txt'))}`,
      'create in A jobs': `touch ${shellQuote(join(aRoot, 'jobs', 'planted'))}`,
      'list A scratch': `ls -la ${shellQuote(aRoot)}`,
      'list A artifact cache': `ls -la ${shellQuote(posix.join(aRoot, 'artifacts'))}`,
      'list A account dir': `ls -la ${shellQuote(join(work, 'scratch', 'hpcb-alice'))}`,
      'list the scratch prefix': `ls ${shellQuote(join(work, 'scratch'))}`,
      'read the database': `head -c 100 ${shellQuote(join(dataDir, 'hpc-bridge.db'))}`,
      'list the data dir': `ls -la ${shellQuote(dataDir)}`,
      'signal A job': `kill -TERM ${shellQuote(b.get(a.id)!.nativeId ?? '1')}`,
      // Up to the directory that holds everything this test made (above it are other tests' files
      // and this source file). The pattern is assembled at run time so B's own script cannot match.
      'walk up and search': `p=${shellQuote(SECRET.slice(0, 6))}; p="$p"${shellQuote(SECRET.slice(6))}; d=$PWD; while [ "$d" != ${shellQuote(work)} ] && [ "$d" != / ]; do d=$(dirname "$d"); grep -rsl -- "$p" "$d" | grep -v "^$PWD/" | head -1 | grep . && exit 0; done; exit 1`,
    };
    const probe = Object.entries(targets)
      .map(([name, cmd]) => `( ${cmd} ) >> attempts.out 2>/dev/null; echo "ATTEMPT ${name}: $?" >> attempts.out`)
      .join('\n');
    const bJob = b.submit('bob', { name: 'b', tasks: [{ cmd: `${probe}\ncat attempts.out; id -un` }], outputFiles: ['attempts.out'] } as never).job;
    const bDone = await b.wait(bJob.id, 120_000);
    expect(bDone?.status, bDone?.statusReason ?? '').toBe('completed');
    const bOut = await output(b, bJob.id, 'bob', 'attempts.out');
    for (const name of Object.keys(targets)) expect(bOut, `attempt "${name}"\n${bOut}`).toMatch(new RegExp(`ATTEMPT ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: [1-9]`));
    expect(bOut).not.toContain(SECRET);

    // A's files are as they were; A's job is still running and then completes with its own bytes.
    expect(readFileSync(join(aDir, '.hpcb', 'job.sh')).equals(before.script)).toBe(true);
    expect(readFileSync(join(aDir, 'in.txt')).equals(before.input)).toBe(true);
    expect(b.get(a.id)?.status).toBe('running');
    writeFileSync(flag, '');
    const aDone = await b.wait(a.id, 120_000);
    expect(aDone?.status, aDone?.statusReason ?? '').toBe('completed');
    expect(await output(b, a.id, 'alice', 'out.txt')).toBe(`${SECRET}-out\n`);
    expect((await b.staging.readLog(a.id, 'alice', 'stdout')).data.toString()).toBe(`${SECRET}-input\n${SECRET}-artifact\nhpcb-alice\n`);

    // Each job ran, and is recorded, under its own account; the directories are theirs alone.
    expect(b.get(a.id)).toMatchObject({ clusterUser: 'hpcb-alice' });
    expect(b.get(bJob.id)).toMatchObject({ clusterUser: 'hpcb-bob' });
    const st = statSync(aDir);
    expect([st.uid, st.mode & 0o777]).toEqual([alice!.uid, 0o700]);
    expect(statSync(join(work, 'scratch', 'hpcb-alice')).mode & 0o777).toBe(0o700);
    expect(statSync(join(work, 'scratch')).mode & 0o777).toBe(0o711);
  }, 300_000);

  it('a user without an identity is refused, naming the cluster and the user', () => {
    expect(() => bridge!.submit('carol', { name: 'c', tasks: [{ cmd: 'true' }] } as never)).toThrow(/user "carol" has no identity on cluster "here"/);
  });
});
