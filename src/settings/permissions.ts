/**
 * File modes of what the configuration points at that holds or guards a secret: SSH private
 * keys, passphrase files, the TLS key, the configuration files themselves and the database with
 * the API token hashes. OpenSSH refuses a private key others can read ("UNPROTECTED PRIVATE
 * KEY FILE"); the daemon does the same for what anyone on the machine can read or change, and
 * warns about what the owner's group can read.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from './schema.js';

export interface PermissionProblem {
  file: string;
  key: string;
  /** refuse: the daemon must not start; warn: log it and go on. */
  level: 'refuse' | 'warn';
  message: string;
}

type Kind = 'secret' | 'config' | 'database';

function check(path: string, kind: Kind, source: string, key: string, out: PermissionProblem[]): void {
  if (!existsSync(path)) return; // missing files are reported where they are used
  const mode = statSync(path).mode & 0o777;
  const octal = `0${mode.toString(8)}`;
  const what = kind === 'secret' ? `${path} (a secret)` : kind === 'config' ? `configuration file ${path}` : `${path} (API token hashes and job definitions)`;
  if (mode & 0o002) {
    out.push({ file: source, key, level: 'refuse', message: `${what} is writable by every user (mode ${octal}); run: chmod o-w ${path}` });
  } else if (kind === 'secret' && mode & 0o004) {
    out.push({ file: source, key, level: 'refuse', message: `${what} is readable by every user (mode ${octal}); run: chmod 600 ${path}` });
  } else if (kind === 'secret' && mode & 0o060) {
    out.push({ file: source, key, level: 'warn', message: `${what} is readable or writable by its group (mode ${octal}); chmod 600 is safer` });
  } else if (kind === 'database' && mode & 0o044) {
    out.push({ file: source, key, level: 'warn', message: `${what} is readable by ${mode & 0o004 ? 'every user' : 'its group'} (mode ${octal}); chmod 600 is safer` });
  }
}

/**
 * Identity keys are checked when the configuration loads, not at the first job: with one key
 * per user, a missing one would otherwise surface only when that user submits.
 */
function present(path: string, source: string, key: string, out: PermissionProblem[]): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    out.push({ file: source, key, level: 'refuse', message: missing ? `${path} does not exist` : `${path} cannot be read by the daemon (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
    return false;
  }
}

function credentialFiles(id: { privateKey?: string | undefined; passphraseFile?: string | undefined }, source: string, prefix: string, out: PermissionProblem[]): void {
  for (const k of ['privateKey', 'passphraseFile'] as const) {
    const p = id[k];
    if (p && present(p, source, `${prefix}.${k}`, out)) check(p, 'secret', source, `${prefix}.${k}`, out);
  }
}

/** Every permission problem of the files these settings name (files that do not exist are skipped). */
export function permissionProblems(settings: Settings): PermissionProblem[] {
  const out: PermissionProblem[] = [];
  const daemonFile = settings.sources.daemon;
  if (!daemonFile.startsWith('(')) check(daemonFile, 'config', daemonFile, '(file)', out);
  for (const c of settings.clusters) {
    const file = settings.sources.clusters[c.name] ?? '(inline)';
    if (!file.startsWith('(')) check(file, 'config', file, '(file)', out);
    if (c.monitor) credentialFiles(c.monitor, file, 'monitor', out);
    const s = c.ssh;
    if (!s) continue;
    if (s.privateKey) check(s.privateKey, 'secret', file, 'ssh.privateKey', out);
    if (s.passphraseFile) check(s.passphraseFile, 'secret', file, 'ssh.passphraseFile', out);
    if (s.jump?.privateKey) check(s.jump.privateKey, 'secret', file, 'ssh.jump.privateKey', out);
    if (s.jump?.passphraseFile) check(s.jump.passphraseFile, 'secret', file, 'ssh.jump.passphraseFile', out);
  }
  for (const [user, policy] of Object.entries(settings.daemon.users)) {
    for (const [cluster, id] of Object.entries(policy.identities)) credentialFiles(id, daemonFile, `users.${user}.identities.${cluster}`, out);
  }
  const tls = settings.daemon.listen.tls;
  if (tls) check(tls.key, 'secret', daemonFile, 'listen.tls.key', out);
  for (const f of ['hpc-bridge.db', 'hpc-bridge.db-wal']) check(join(settings.daemon.dataDir, f), 'database', daemonFile, 'dataDir', out);
  return out;
}
