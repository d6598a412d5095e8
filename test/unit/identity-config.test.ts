/**
 * Identities in the configuration: each user's Unix account and credential per cluster, a
 * cluster's shared account and monitor identity. Every problem is listed with file and key;
 * key files are checked when the configuration loads.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildSettings, loadSettings } from '../../src/settings/load.js';
import { identityFor, identityForAccount } from '../../src/settings/identity.js';

const ssh = { host: 'login', user: 'svc', privateKey: '/k/svc', knownHosts: '/k/known_hosts' };
const slurm = (extra: Record<string, unknown> = {}) => ({ file: 'hpc.yaml', raw: { name: 'hpc', scheduler: 'slurm', transport: 'ssh', ssh, scratchRoot: '/home/{user}/s', ...extra } });
const local = { file: 'loc.yaml', raw: { name: 'loc', scheduler: 'direct', scratchRoot: '/s/{user}' } };

describe('identity configuration', () => {
  it('maps each user to their own account per cluster; without one, only a shared account serves', () => {
    const s = buildSettings({ users: { alice: { identities: { hpc: { user: 'alice', privateKey: '/k/alice' }, loc: { user: 'alice' } } } } }, [slurm(), local], 'd.yaml');
    const hpc = s.clusters[0]!;
    expect(identityFor(s.daemon, hpc, 'alice')).toEqual({ user: 'alice', privateKey: '/k/alice', shared: false });
    expect(identityFor(s.daemon, hpc, 'bob')).toBeUndefined();
    expect(identityFor(s.daemon, s.clusters[1]!, 'alice')).toEqual({ user: 'alice', shared: false });
    // Jobs recorded under the cluster's own account (before identities) keep a way in.
    expect(identityForAccount(s.daemon, hpc, 'svc')).toEqual({ user: 'svc', privateKey: '/k/svc', shared: true });
    expect(identityForAccount(s.daemon, hpc, 'alice')?.privateKey).toBe('/k/alice');
    expect(identityForAccount(s.daemon, hpc, 'mallory')).toBeUndefined();

    const shared = buildSettings({}, [slurm({ sharedAccount: true })], 'd.yaml');
    expect(identityFor(shared.daemon, shared.clusters[0]!, 'bob')).toEqual({ user: 'svc', privateKey: '/k/svc', shared: true });
    expect(Object.isFrozen(s.daemon.users.alice!.identities.hpc)).toBe(true);
  });

  it('a cluster where users have identities needs {user} in its scratch root', () => {
    expect(() => buildSettings({ users: { alice: { identities: { loc: { user: 'alice' } } } } }, [{ file: 'loc.yaml', raw: { name: 'loc', scheduler: 'direct', scratchRoot: '/s' } }], 'd.yaml')).toThrow(
      /loc\.yaml: scratchRoot: must contain \{user\}/,
    );
  });

  it('lists every identity and monitor problem with its file and key', () => {
    const users = {
      alice: { clusters: ['hpc'], identities: { hpc: { user: 'alice' }, loc: { user: 'alice' }, nope: { user: 'alice' } } },
      bob: { identities: { hpc: { user: 'bob', privateKey: '/k/bob', certificate: '/k/bob-cert.pub', colour: 1 }, loc: { user: 'bob', privateKey: '/k/bob' } } },
      carol: { identities: { hpc: { user: 'no spaces', agent: true } } },
    };
    let msg = '';
    try {
      buildSettings({ users }, [slurm({ monitor: { user: 'mon' }, scratchRoot: '/s/{account}' }), local], 'd.yaml');
    } catch (e) {
      msg = (e as Error).message;
    }
    for (const line of [
      'd.yaml: users.bob.identities.hpc.colour: unknown key',
      'd.yaml: users.carol.identities.hpc.user: must be a valid user name',
      'hpc.yaml: monitor.privateKey: give a privateKey or enable agent',
      'hpc.yaml: scratchRoot: the only placeholder is {user}',
    ]) expect(msg).toContain(line);
    // Cross-checks come once the files validate on their own.
    try {
      buildSettings({ users: { ...users, bob: { identities: { hpc: { user: 'bob', privateKey: '/k/bob', certificate: '/k/c' }, loc: { user: 'bob', privateKey: '/k/bob' } } }, carol: {} } }, [slurm(), local], 'd.yaml');
    } catch (e) {
      msg = (e as Error).message;
    }
    for (const line of [
      'd.yaml: users.alice.identities.hpc.privateKey: give a privateKey or enable agent',
      'd.yaml: users.alice.identities.loc: the user may not use cluster "loc"',
      'd.yaml: users.alice.identities.nope: names no configured cluster ("nope")',
      'd.yaml: users.bob.identities.hpc.certificate: OpenSSH user certificates cannot be presented',
      'd.yaml: users.bob.identities.loc.privateKey: only applies to clusters with transport ssh',
    ]) expect(msg).toContain(line);
  });
});

describe('identity key files when the configuration loads', () => {
  let dir: string;
  let warnings: string[];
  beforeEach(() => {
    warnings = [];
    dir = mkdtempSync(join(tmpdir(), 'hpcb-ids-'));
    mkdirSync(join(dir, 'clusters.d'));
    for (const f of ['svc', 'known_hosts', 'alice']) writeFileSync(join(dir, f), 'x', { mode: 0o600 });
    writeFileSync(
      join(dir, 'clusters.d', 'hpc.yaml'),
      ['name: hpc', 'scheduler: slurm', 'transport: ssh', 'scratchRoot: /home/{user}/s', 'sharedAccount: true', 'ssh:', '  host: login', '  user: svc', '  privateKey: ../svc', '  knownHosts: ../known_hosts', 'monitor: { user: mon, privateKey: ../mon }', ''].join('\n'),
      { mode: 0o600 },
    );
    writeFileSync(join(dir, 'hpc-bridge.yaml'), `dataDir: ${dir}\nusers:\n  alice: { identities: { hpc: { user: alice, privateKey: alice, passphraseFile: alice.pass } } }\n`, { mode: 0o600 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const load = () => loadSettings(join(dir, 'hpc-bridge.yaml'), { warn: (m) => warnings.push(m) });

  it('a missing key, a missing passphrase file and a world-readable key are refused, naming file and key; a shared account is warned about', () => {
    chmodSync(join(dir, 'alice'), 0o644);
    let msg = '';
    try {
      load();
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain(`hpc.yaml: monitor.privateKey: ${join(dir, 'mon')} does not exist`);
    expect(msg).toContain(`hpc-bridge.yaml: users.alice.identities.hpc.passphraseFile: ${join(dir, 'alice.pass')} does not exist`);
    expect(msg).toMatch(/users\.alice\.identities\.hpc\.privateKey: .*alice \(a secret\) is readable by every user/);

    chmodSync(join(dir, 'alice'), 0o640);
    writeFileSync(join(dir, 'mon'), 'x', { mode: 0o600 });
    writeFileSync(join(dir, 'alice.pass'), 'x', { mode: 0o600 });
    const s = load();
    expect(s.daemon.users.alice!.identities.hpc!.privateKey).toBe(join(dir, 'alice'));
    expect(warnings.join('\n')).toMatch(/users\.alice\.identities\.hpc\.privateKey: .*readable or writable by its group/);
    expect(warnings.join('\n')).toMatch(/hpc\.yaml: sharedAccount: users without an identity on cluster "hpc" all run as its account "svc"/);
  });
});
