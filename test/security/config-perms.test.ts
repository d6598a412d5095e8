/**
 * Configuration that points at secrets: a private key, a passphrase file or a TLS key that
 * every user can read stops the daemon at start (INVALID_CONFIG naming file and key); the same
 * readable by the group, or a token database others can read, is a warning. Configuration
 * files anyone can change are refused too.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/domain/errors.js';
import { loadSettings } from '../../src/settings/load.js';

let dir: string;
let warnings: string[];
const load = () => loadSettings(join(dir, 'hpc-bridge.yaml'), { warn: (m) => warnings.push(m) });

function refusal(): string {
  try {
    load();
  } catch (e) {
    expect(e).toBeInstanceOf(BridgeError);
    expect((e as BridgeError).code).toBe('INVALID_CONFIG');
    return (e as BridgeError).message;
  }
  throw new Error('the configuration was accepted');
}

beforeEach(() => {
  warnings = [];
  dir = mkdtempSync(join(tmpdir(), 'hpcb-perms-'));
  mkdirSync(join(dir, 'clusters.d'));
  mkdirSync(join(dir, 'data'));
  for (const f of ['id_ed25519', 'passphrase', 'known_hosts', 'tls.key', 'tls.crt']) writeFileSync(join(dir, f), 'x', { mode: 0o600 });
  writeFileSync(join(dir, 'hpc-bridge.yaml'), `dataDir: ${join(dir, 'data')}\nlisten:\n  tls:\n    cert: ${join(dir, 'tls.crt')}\n    key: ${join(dir, 'tls.key')}\n`, { mode: 0o640 });
  writeFileSync(
    join(dir, 'clusters.d', 'hpc.yaml'),
    ['name: hpc', 'scheduler: slurm', 'transport: ssh', 'scratchRoot: /scratch/u', 'ssh:', '  host: login', '  user: u', '  privateKey: ../id_ed25519', '  passphraseFile: ../passphrase', '  knownHosts: ../known_hosts', ''].join('\n'),
    { mode: 0o640 },
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('permissions of configured secrets', () => {
  it('0600 secrets and 0640 configuration: loads without a word', () => {
    expect(load().clusters[0]!.name).toBe('hpc');
    expect(warnings).toEqual([]);
  });

  it.each([
    ['id_ed25519', 'ssh.privateKey'],
    ['passphrase', 'ssh.passphraseFile'],
    ['tls.key', 'listen.tls.key'],
  ])('a world-readable %s refuses to start, naming the key and the fix', (file, key) => {
    chmodSync(join(dir, file), 0o644);
    const msg = refusal();
    expect(msg).toContain(key);
    expect(msg).toContain(join(dir, file));
    expect(msg).toMatch(/readable by every user \(mode 0644\).*chmod 600/);
  });

  it('a group-readable key or passphrase file is a warning', () => {
    chmodSync(join(dir, 'id_ed25519'), 0o640);
    chmodSync(join(dir, 'passphrase'), 0o640);
    load();
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toMatch(/ssh\.privateKey: .*readable or writable by its group/);
    expect(warnings.join('\n')).toMatch(/ssh\.passphraseFile: /);
  });

  it('a configuration file anyone can change is refused (it says which key and commands to use)', () => {
    chmodSync(join(dir, 'clusters.d', 'hpc.yaml'), 0o666);
    expect(refusal()).toMatch(/hpc\.yaml.*writable by every user/);
  });

  it('a token database others can read is a warning, not a refusal', () => {
    writeFileSync(join(dir, 'data', 'hpc-bridge.db'), '', { mode: 0o644 });
    chmodSync(join(dir, 'data', 'hpc-bridge.db'), 0o644);
    load();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/hpc-bridge\.db \(API token hashes.*readable by every user/);
  });

  it('the passphrase itself cannot be put in the configuration (only a file holding it)', () => {
    writeFileSync(join(dir, 'clusters.d', 'hpc.yaml'), ['name: hpc', 'scheduler: slurm', 'transport: ssh', 'scratchRoot: /s', 'ssh:', '  host: h', '  user: u', '  privateKey: ../id_ed25519', '  passphrase: hunter2', '  knownHosts: ../known_hosts', ''].join('\n'), { mode: 0o600 });
    const msg = refusal();
    expect(msg).toMatch(/ssh\.passphrase: unknown key/);
    expect(msg).not.toContain('hunter2');
  });
});
