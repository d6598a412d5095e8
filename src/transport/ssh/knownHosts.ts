/**
 * OpenSSH known_hosts, read-only, for ssh2's `hostVerifier`.
 *
 * ssh2 verifies nothing unless it is given a verifier, and npm has no maintained known_hosts
 * parser, so this is a small one covering what sites actually ship:
 *   - plain host patterns, comma separated, with `*`/`?` wildcards and `!negation`;
 *   - `[host]:port` names for non-standard ports (OpenSSH only writes bare names for port 22);
 *   - hashed names `|1|base64(salt)|base64(HMAC-SHA1(salt, name))` (HashKnownHosts yes);
 *   - `@revoked` lines, which refuse that key for the matching hosts.
 * `@cert-authority` lines are parsed and ignored: ssh2 has no host-certificate support, so a
 * host known only through a CA is reported as unknown rather than trusted on the CA's word.
 *
 * Everything here is pure (text in, verdict out) so it is unit-tested without a server.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface KnownHostEntry {
  /** 1-based line number, for messages that point an admin at the right line. */
  line: number;
  marker: 'revoked' | 'cert-authority' | null;
  /** Plain patterns (lower-cased), or null for a hashed entry. */
  patterns: string[] | null;
  hashed: { salt: Buffer; hash: Buffer } | null;
  keyType: string;
  /** The raw public key blob (what ssh2 hands to hostVerifier). */
  key: Buffer;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = raw.split(/[ \t]+/);
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue; // unknown marker: OpenSSH skips the line too
    }
    const [hosts, keyType, keyB64] = fields;
    if (!hosts || !keyType || !keyB64) continue;
    const key = Buffer.from(keyB64, 'base64');
    if (key.length === 0) continue;
    let patterns: string[] | null = null;
    let hashed: KnownHostEntry['hashed'] = null;
    if (hosts.startsWith('|1|')) {
      const [, , salt, hash] = hosts.split('|');
      if (!salt || !hash) continue;
      hashed = { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      patterns = hosts.toLowerCase().split(',').filter((p) => p !== '');
    }
    entries.push({ line: i + 1, marker, patterns, hashed, keyType, key });
  }
  return entries;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** OpenSSH pattern-list semantics: any negated match vetoes, otherwise any positive match wins. */
export function patternListMatches(patterns: readonly string[], name: string): boolean {
  let positive = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (globToRegExp(p.slice(1)).test(name)) return false;
    } else if (globToRegExp(p).test(name)) {
      positive = true;
    }
  }
  return positive;
}

export function entryMatchesName(entry: KnownHostEntry, name: string): boolean {
  if (entry.patterns) return patternListMatches(entry.patterns, name);
  if (!entry.hashed) return false;
  const mac = createHmac('sha1', entry.hashed.salt).update(name).digest();
  return mac.length === entry.hashed.hash.length && timingSafeEqual(mac, entry.hashed.hash);
}

/** `SHA256:<base64 without padding>`, the form `ssh-keygen -lf` and OpenSSH's prompts print. */
export function fingerprintSha256(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name at the start of an SSH public key blob (uint32 length + name). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  if (len <= 0 || len > 64 || 4 + len > key.length) return 'unknown';
  return key.subarray(4, 4 + len).toString('latin1');
}

export type HostKeyVerdict =
  | { ok: true; line: number }
  | {
      ok: false;
      reason: 'unknown' | 'changed' | 'revoked';
      /** Lines holding other keys for this host (for 'changed') or the revoking line. */
      lines: number[];
    };

export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, offered: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const matching = entries.filter((e) => e.marker !== 'cert-authority' && entryMatchesName(e, name));
  const revoked = matching.filter((e) => e.marker === 'revoked' && e.key.equals(offered));
  if (revoked.length > 0) return { ok: false, reason: 'revoked', lines: revoked.map((e) => e.line) };
  const known = matching.filter((e) => e.marker === null);
  const hit = known.find((e) => e.key.equals(offered));
  if (hit) return { ok: true, line: hit.line };
  if (known.length === 0) return { ok: false, reason: 'unknown', lines: [] };
  return { ok: false, reason: 'changed', lines: known.map((e) => e.line) };
}

/**
 * Host key algorithms to prefer for this host, in known_hosts order. ssh2 otherwise negotiates
 * its own favourite (ed25519 first), so a host recorded only with its RSA or ECDSA key would
 * look "changed" although the server also holds that key. OpenSSH avoids this the same way:
 * it puts algorithms it already has a key for first.
 */
export function preferredHostKeyAlgorithms(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  const out: string[] = [];
  for (const e of entries) {
    if (e.marker !== null || !entryMatchesName(e, name)) continue;
    const algs = e.keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [e.keyType];
    for (const a of algs) if (!out.includes(a)) out.push(a);
  }
  return out;
}

/** A hashed known_hosts line for `host`/`port` (used only by the opt-in accept-new policy). */
export function hashedKnownHostsLine(host: string, port: number, key: Buffer): string {
  const salt = randomBytes(20);
  const mac = createHmac('sha1', salt).update(knownHostsName(host, port)).digest();
  return `|1|${salt.toString('base64')}|${mac.toString('base64')} ${keyTypeOf(key)} ${key.toString('base64')}`;
}
