/**
 * A root daemon's `direct` scratch tree on this machine: `<prefix>/{user}/...`, where the
 * prefix belongs to root (0711: enterable, never listable) and each account's directory belongs
 * to that account alone (0700). Only root can create entries in the prefix, so no user can plant
 * another user's directory (or a link in its place) before the bridge makes it.
 *
 * On a real cluster the site makes `/scratch/<user>`; on this machine the daemon is the site.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs';
import { posix } from 'node:path';
import { BridgeError } from '../domain/errors.js';

/** The part of a scratch root up to and including the `{user}` component, or undefined without one. */
export function accountDirTemplate(scratchRoot: string): { prefix: string; component: string } | undefined {
  const parts = scratchRoot.split('/');
  const i = parts.findIndex((p) => p.includes('{user}'));
  if (i < 0) return undefined;
  return { prefix: parts.slice(0, i).join('/') || '/', component: parts[i]! };
}

/**
 * Make `<prefix>` (root, 0711) and `<prefix>/<component with account>` (account, 0700) if they
 * are missing; refuse when either exists as something else (a link, another owner).
 */
export function ensureAccountScratch(scratchRoot: string, account: { name: string; uid: number; gid: number }): string {
  const t = accountDirTemplate(scratchRoot);
  if (!t) {
    throw new BridgeError('INVALID_CONFIG', `scratchRoot ${scratchRoot} has no {user}: jobs of several accounts on this machine need a directory each`, { context: { field: 'scratchRoot' } });
  }
  mkdirSync(t.prefix, { recursive: true, mode: 0o711 });
  const p = lstatSync(t.prefix);
  if (!p.isDirectory() || p.uid !== 0 || (p.mode & 0o022) !== 0) {
    throw new BridgeError('INVALID_CONFIG', `${t.prefix} must be a directory owned by root that only root can write (it holds every account's scratch directory)`, { context: { field: 'scratchRoot', path: t.prefix } });
  }
  const dir = posix.join(t.prefix, t.component.replaceAll('{user}', account.name));
  try {
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, account.uid, account.gid);
    chmodSync(dir, 0o700);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const d = lstatSync(dir);
  if (!d.isDirectory() || d.uid !== account.uid || (d.mode & 0o077) !== 0) {
    throw new BridgeError('INVALID_CONFIG', `${dir} must be a directory owned by ${account.name} that only it can enter`, { context: { field: 'scratchRoot', path: dir } });
  }
  return dir;
}
