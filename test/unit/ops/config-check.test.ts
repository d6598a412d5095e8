/**
 * `hpc-bridge config check` as an operator runs it: every problem in the files at once, then
 * each cluster tried for real (login, scheduler commands, scratch writable). The SSH half
 * against the test Slurm is in test/e2e/ops-multicluster.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MAIN = join(import.meta.dirname, '../../../src/cli/main.ts');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function configDir(clusters: Record<string, string>, daemon = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'hpcb-check-'));
  mkdirSync(join(dir, 'clusters.d'));
  writeFileSync(join(dir, 'hpc-bridge.yaml'), `dataDir: ${join(dir, 'data')}\n${daemon}`);
  for (const [name, text] of Object.entries(clusters)) writeFileSync(join(dir, 'clusters.d', `${name}.yaml`), text);
  return join(dir, 'hpc-bridge.yaml');
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('config check', () => {
  it('tries a direct cluster on this machine: login, commands, writable scratch', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-check-scratch-'));
    const cfg = configDir({ here: `name: here\nscheduler: direct\nsharedAccount: true\nscratchRoot: ${dir}/s\n` });
    const r = cli(['config', 'check', '--config', cfg]);
    // The one warning: every user without an identity shares the cluster's account.
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^hpc-bridge: warning: .*here\.yaml: sharedAccount: users without an identity on cluster "here" all run as its account "[^"]+"/)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ok +here: login: logged in to this machine/);
    expect(r.stdout).toMatch(/ok +here: scheduler: found bash, setsid, kill/);
    expect(r.stdout).toMatch(/ok +here: scratch: .*\/s\/jobs is writable/);
  });

  it('reports an unreachable login node and an unwritable scratch, and exits non-zero', async () => {
    const port = await closedPort();
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-check-keys-'));
    writeFileSync(join(dir, 'known_hosts'), '');
    writeFileSync(join(dir, 'id'), 'not a key', { mode: 0o600 }); // a world-readable key is refused before any check
    const cfg = configDir({
      ro: 'name: ro\nscheduler: direct\nscratchRoot: /proc/hpcb-cannot-write\n',
      down: `name: down\nscheduler: slurm\ntransport: ssh\nssh: {host: 127.0.0.1, port: ${port}, user: nobody, privateKey: ${dir}/id, knownHosts: ${dir}/known_hosts}\nscratchRoot: /scratch\n`,
    });
    const r = cli(['config', 'check', '--config', cfg, '--json']);
    expect(r.code).toBe(1);
    const steps = (JSON.parse(r.stdout) as { clusters: { cluster: string; check: string; ok: boolean; detail: string }[] }).clusters;
    expect(steps.filter((s) => s.cluster === 'down')).toEqual([expect.objectContaining({ check: 'login', ok: false, detail: expect.stringContaining(`127.0.0.1:${port}`) })]);
    const ro = steps.filter((s) => s.cluster === 'ro');
    expect(ro.map((s) => [s.check, s.ok])).toEqual([
      ['login', true],
      ['scheduler', true],
      ['scratch', false],
    ]);
  });

  it('reports adapter options the chosen adapter does not know, with file and key, beside the other problems', () => {
    const cfg = configDir({
      p: 'name: p\nscheduler: pbs\nflavor: torque\nscratchRoot: relative\nadapter:\n  torqueStatusFormat: json\n  accounting: none\n',
    });
    const r = cli(['config', 'check', '--config', cfg, '--no-connect']);
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/configuration has 3 problems/);
    const file = join(cfg, '..', 'clusters.d', 'p.yaml');
    expect(r.stderr).toContain(`${file}: adapter.accounting: unknown key`);
    expect(r.stderr).toContain(`${file}: adapter.torqueStatusFormat: Invalid option`);
    expect(r.stderr).toContain(`${file}: scratchRoot: must be an absolute path`);
  });

  it('lists every problem in the files without contacting anything', () => {
    const cfg = configDir(
      { bad: 'name: "bad name"\nscheduler: lsf\nscratchRoot: relative\n' },
      'maintenance: {scratchRetentionDays: -1, schedules: {backup: "nightly"}}\n',
    );
    const r = cli(['config', 'check', '--config', cfg, '--no-connect']);
    expect(r.code).toBe(8);
    const text = r.stderr;
    for (const key of ['maintenance.scratchRetentionDays', 'maintenance.schedules.backup', 'name', 'scheduler', 'scratchRoot']) expect(text).toContain(`${key}:`);
    expect(text).toMatch(/configuration has 5 problems/);
    expect(readFileSync(cfg, 'utf8')).toContain('nightly');
  });

  describe('accounts of local clusters', () => {
    const root = process.getuid?.() === 0;
    it('warns loudly about runJobsAsRoot and about a shared account, and still passes', () => {
      const dir = mkdtempSync(join(tmpdir(), 'hpcb-check-root-'));
      const cfg = configDir({ here: `name: here\nscheduler: direct\nscratchRoot: ${dir}/s\nsharedAccount: true\nrunJobsAsRoot: true\n` });
      const r = cli(['config', 'check', '--config', cfg, '--no-connect']);
      expect(r.code).toBe(0);
      const file = join(cfg, '..', 'clusters.d', 'here.yaml');
      expect(r.stderr).toContain(`warning: ${file}: runJobsAsRoot: cluster "here" ${root ? 'runs jobs as root' : 'sets runJobsAsRoot, which has no effect'}`);
      expect(r.stderr).toContain(`warning: ${file}: sharedAccount:`);
    });

    it('an identity this daemon cannot take is a problem naming file and key', () => {
      const dir = mkdtempSync(join(tmpdir(), 'hpcb-check-acct-'));
      const cfg = configDir({ here: `name: here\nscheduler: direct\nscratchRoot: ${dir}/{user}/s\n` }, 'users:\n  carol:\n    identities:\n      here: { user: hpcb-no-such-account }\n');
      const r = cli(['config', 'check', '--config', cfg, '--no-connect']);
      expect(r.code).toBe(8);
      expect(r.stderr).toContain(`${cfg}: users.carol.identities.here.user: ${root ? 'there is no Unix account "hpcb-no-such-account"' : 'the daemon runs as'}`);
    });
  });

  it('a missing or unreadable identity key file is a problem naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-check-idkey-'));
    writeFileSync(join(dir, 'known_hosts'), '');
    const cfg = configDir(
      { hpc: `name: hpc\nscheduler: slurm\ntransport: ssh\nssh: {host: 127.0.0.1, user: svc, agent: true, knownHosts: ${dir}/known_hosts}\nscratchRoot: /scratch/{user}\n` },
      `users:\n  carol:\n    identities:\n      hpc: { user: carol, privateKey: ${dir}/carol-missing }\n`,
    );
    const r = cli(['config', 'check', '--config', cfg, '--no-connect']);
    expect(r.code).toBe(8);
    expect(r.stderr).toContain('users.carol.identities.hpc.privateKey');
    expect(r.stderr).toContain(`${dir}/carol-missing`);
  });
});
