/**
 * What the admin commands (serve, token, config check) open on this machine: the daemon's
 * configuration and its database. Imported lazily inside, so that client commands never load
 * ssh2 or better-sqlite3.
 */
import { join } from 'node:path';

export async function openDaemonSettings(config: string | undefined) {
  const { loadSettings } = await import('../settings/load.js');
  const { embeddedDefaultSettings } = await import('../settings/defaults.js');
  const file = config ?? process.env.HPCB_CONFIG;
  return file ? loadSettings(file) : embeddedDefaultSettings();
}

export async function tokenStore(config: string | undefined) {
  const settings = await openDaemonSettings(config);
  const { Store } = await import('../store/store.js');
  const { TokenStore } = await import('../auth/tokens.js');
  // The daemon may be running: SQLite in WAL mode lets this admin command write beside it.
  const store = Store.open(join(settings.daemon.dataDir, 'hpc-bridge.db'));
  return { tokens: new TokenStore(store.tokens), close: () => store.close() };
}
