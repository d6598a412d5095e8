/**
 * Cluster config -> transport options: key material is read from the files the config names,
 * for the login node and for its jump host alike.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { transportOptions } from '../../src/bridge.js';
import { buildSettings } from '../../src/settings/load.js';

describe('transportOptions', () => {
  it("passes the jump host's own passphrase and agent on", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-topts-'));
    writeFileSync(join(dir, 'login.pass'), 'login secret\n', { mode: 0o600 });
    writeFileSync(join(dir, 'jump.pass'), 'jump secret\n', { mode: 0o600 });
    const s = buildSettings({ dataDir: dir }, [
      {
        file: 'c.yaml',
        raw: {
          name: 'c',
          scheduler: 'slurm',
          transport: 'ssh',
          scratchRoot: '/scratch',
          ssh: {
            host: 'login',
            user: 'svc',
            privateKey: join(dir, 'id'),
            passphraseFile: join(dir, 'login.pass'),
            knownHosts: join(dir, 'known_hosts'),
            jump: { host: 'gw', user: 'me', privateKey: join(dir, 'jump_id'), passphraseFile: join(dir, 'jump.pass'), agent: '/run/agent.sock' },
          },
        },
      },
    ]);
    const o = transportOptions(s.clusters[0]!) as { passphrase?: string; jump?: { passphrase?: string; agent?: unknown; privateKeyPath?: string } };
    expect(o.passphrase).toBe('login secret');
    expect(o.jump).toMatchObject({ passphrase: 'jump secret', agent: '/run/agent.sock', privateKeyPath: join(dir, 'jump_id') });
  });
});
