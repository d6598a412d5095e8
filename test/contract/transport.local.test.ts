/**
 * The transport contract against LocalTransport (child processes + the local filesystem).
 * Runs in the unit project: no cluster needed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createTransport } from '../../src/transport/index.js';
import { defineTransportContract } from './transport.contract.js';

let root: string | undefined;
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

defineTransportContract('local', () => createTransport({ kind: 'local' }), {
  scratchRoot: async () => (root = await mkdtemp(join(tmpdir(), 'hpcb-local-scratch-'))),
});
