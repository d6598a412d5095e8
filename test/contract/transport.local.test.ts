/**
 * The transport contract against LocalTransport (child processes + the local filesystem).
 * Runs in the unit project: no cluster needed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTransport } from '../../src/transport/index.js';
import { defineTransportContract } from './transport.contract.js';

let root: string | undefined;
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

defineTransportContract('local', () => createTransport({ kind: 'local' }), {
  scratchRoot: async () => (root = await mkdtemp(join(tmpdir(), 'hpcb-local-scratch-'))),
});

describe('LocalTransport without stdin', () => {
  it("does not make bash source ~/.bashrc (a socket on stdin reads as 'started by sshd')", async () => {
    const home = await mkdtemp(join(tmpdir(), 'hpcb-home-'));
    await writeFile(join(home, '.bashrc'), 'echo "rc noise"\n');
    const t = createTransport({ kind: 'local' });
    try {
      // SHLVL 0: bash only does this for a shell it believes is the first of a session.
      const r = await t.exec(['bash', '-c', 'echo hi'], { env: { HOME: home, SHLVL: '0' } });
      expect(r.stdout).toBe('hi\n');
      // With stdin given it is still delivered whole.
      const c = await t.exec(['cat'], { stdin: 'payload' });
      expect(c.stdout).toBe('payload');
    } finally {
      await t.close();
      await rm(home, { recursive: true, force: true });
    }
  });
});
