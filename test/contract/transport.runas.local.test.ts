/**
 * The transport contract against RunAsTransport: the local machine, every command and file
 * operation as the ordinary account hpcb-alice (created by test/cluster/up.sh). Needs root, as
 * the daemon does to switch accounts; under CI a missing account or a non-root run fails.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTransport, lookupAccount, RunAsTransport } from '../../src/transport/index.js';
import { defineTransportContract } from './transport.contract.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const account = lookupAccount('hpcb-alice');
const usable = process.getuid?.() === 0 && account !== undefined;
if (process.env.CI === 'true' && !usable) throw new Error('RunAsTransport tests need root and the account hpcb-alice (test/cluster/up.sh creates it)');

let root: string | undefined;
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe.runIf(usable)('RunAsTransport', () => {
  defineTransportContract('local as hpcb-alice', () => createTransport({ kind: 'local', runAs: 'hpcb-alice' }), {
    scratchRoot: () => {
      root = mkdtempSync(join(tmpdir(), 'hpcb-runas-'));
      chownSync(root, account!.uid, account!.gid);
      return root;
    },
    bigFileBytes: 64 << 20,
  });

  it('runs as the account, with its own environment only', async () => {
    const t = createTransport({ kind: 'local', runAs: 'hpcb-alice' });
    expect(t).toBeInstanceOf(RunAsTransport);
    process.env.HPCB_DAEMON_SECRET = 'daemon-only';
    try {
      const r = await t.exec(['sh', '-c', 'id -un; id -u; echo "${HPCB_DAEMON_SECRET:-unset}"; echo "$USER"']);
      expect(r.stdout).toBe(`hpcb-alice\n${account!.uid}\nunset\nhpcb-alice\n`);
    } finally {
      delete process.env.HPCB_DAEMON_SECRET;
      await t.close();
    }
  });

  it("reads nothing the account cannot: root's files stay out of reach through a planted link", async () => {
    const t = createTransport({ kind: 'local', runAs: 'hpcb-alice' });
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-runas-link-'));
    try {
      chownSync(dir, account!.uid, account!.gid);
      await t.exec(['ln', '-s', '/etc/shadow', `${dir}/out.txt`]);
      await expect(t.readRange(`${dir}/out.txt`, 0, 100)).rejects.toMatchObject({ code: 'REMOTE_IO' });
      await expect(t.download(`${dir}/out.txt`, join(dir, 'copy'))).rejects.toMatchObject({ code: 'REMOTE_IO' });
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a daemon that is not root', () => {
  it('cannot switch accounts: a clear configuration error naming the account', () => {
    const expected = /cannot run commands as "hpcb-alice"/;
    if (process.getuid?.() !== 0) {
      expect(() => createTransport({ kind: 'local', runAs: 'hpcb-alice' })).toThrow(expected);
      return;
    }
    // Run as root (as under CI): the same call from a process that has dropped to hpcb-bob.
    const bob = lookupAccount('hpcb-bob');
    expect(bob, 'the account hpcb-bob (test/cluster/up.sh creates it)').toBeDefined();
    const code = `import('./src/transport/index.ts').then((m) => { try { m.createTransport({ kind: 'local', runAs: 'hpcb-alice' }); console.log('no error'); } catch (e) { console.log(e.message); } });`;
    const r = spawnSync('setpriv', [`--reuid=${bob!.uid}`, `--regid=${bob!.gid}`, '--init-groups', '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() },
    });
    expect(r.stdout, r.stderr).toMatch(expected);
  });
  it('refuses an account that does not exist', () => {
    // Checked before any switch of user, so a daemon that is not root refuses it the same way.
    expect(() => createTransport({ kind: 'local', runAs: 'hpcb-no-such-user' })).toThrow(/no Unix account "hpcb-no-such-user"|cannot run commands as "hpcb-no-such-user"/);
  });
});
