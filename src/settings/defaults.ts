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

/**
 * Run by an ordinary user, every job runs as that user (personal mode). Run by root, a token's
 * user runs as the Unix account of the same name when this machine has one, and is refused
 * otherwise: never as root. Each account's scratch is then its own directory beside the data
 * directory (the data directory itself stays closed to every account but the daemon's).
 */
export function embeddedDefaultSettings(dataDir = defaultDataDir(), root = process.getuid?.() === 0): Settings {
  const local = root
    ? { scratchRoot: `${dataDir}.scratch/{user}`, sameNameAccounts: true }
    : { scratchRoot: join(dataDir, 'scratch'), sharedAccount: true };
  return buildSettings(
    { dataDir, defaultCluster: 'local' },
    [{ file: '(embedded default)', raw: { name: 'local', scheduler: 'direct', transport: 'local', pollIntervalSeconds: 1, ...local } }],
    '(embedded default)',
  );
}
