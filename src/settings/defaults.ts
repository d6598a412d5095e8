/**
 * The embedded default: with no configuration file, the daemon serves one cluster named
 * `local` that runs jobs on this machine without a scheduler (the direct adapter), so a fresh
 * install works end to end before any cluster is configured.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { buildSettings } from './load.js';
import type { Settings } from './schema.js';

export function defaultDataDir(): string {
  if (process.env.HPCB_DATA_DIR) return process.env.HPCB_DATA_DIR;
  if (process.env.STATE_DIRECTORY) return process.env.STATE_DIRECTORY.split(':')[0]!; // systemd StateDirectory=
  if (process.getuid?.() === 0) return '/var/lib/hpc-bridge';
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'hpc-bridge');
}

export function embeddedDefaultSettings(dataDir = defaultDataDir()): Settings {
  return buildSettings(
    { dataDir, defaultCluster: 'local' },
    [{ file: '(embedded default)', raw: { name: 'local', scheduler: 'direct', transport: 'local', scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 1, sharedAccount: true } }],
    '(embedded default)',
  );
}
