import { describe, expect, it } from 'vitest';
import {
  checkHostKey,
  fingerprintSha256,
  hashedKnownHostsLine,
  keyTypeOf,
  knownHostsName,
  parseKnownHosts,
  patternListMatches,
  preferredHostKeyAlgorithms,
} from '../../../src/transport/ssh/knownHosts.js';

// A throwaway ed25519 host key and hashed lines that OpenSSH 9.2's `ssh-keygen -H` wrote for it:
// the first for "[127.0.0.1]:2299", the next two for "login1.example.org,10.0.0.5" (port 22).
const KEY_B64 = 'AAAAC3NzaC1lZDI1NTE5AAAAIE21ddikEleSsAFO/p8EGKbSXAoqfe1rRv4dyWmcR6Ec';
const KEY = Buffer.from(KEY_B64, 'base64');
const KEY_FP = 'SHA256:LHETtt05nrqp3mdrkGUZN1I0QePunquPxcy5yDmlLw0'; // ssh-keygen -lf
const OPENSSH_HASHED = [
  `|1|S9DtnWSFvv3egq39lnHviOKsrSI=|zYKocW1f9lEYgSXstkU+2YwgCgU= ssh-ed25519 ${KEY_B64}`,
  `|1|WzxPFk1ii/E94M8rod34zpY1/FM=|CNYqbal8A936tj0AZl3ylDZDFqU= ssh-ed25519 ${KEY_B64}`,
  `|1|0K5/HtnrfdnLYcLsxYjSqg5IHhc=|K/FSKRwT2EGqdQdvb0b6h/wepOQ= ssh-ed25519 ${KEY_B64}`,
].join('\n');
// Another ed25519 blob (same type, different key).
const OTHER = Buffer.from(KEY);
OTHER.writeUInt8(OTHER.readUInt8(OTHER.length - 1) ^ 0xff, OTHER.length - 1);
const OTHER_B64 = OTHER.toString('base64');

describe('known_hosts', () => {
  it('computes OpenSSH fingerprints and key types', () => {
    expect(fingerprintSha256(KEY)).toBe(KEY_FP);
    expect(keyTypeOf(KEY)).toBe('ssh-ed25519');
    expect(keyTypeOf(Buffer.from('xx'))).toBe('unknown');
  });

  it('uses [host]:port except on port 22, lower-cased', () => {
    expect(knownHostsName('Login1.Example.org', 22)).toBe('login1.example.org');
    expect(knownHostsName('10.99.0.2', 2222)).toBe('[10.99.0.2]:2222');
  });

  it('matches hashed entries written by OpenSSH, for the bare name on port 22 and [host]:port otherwise', () => {
    const entries = parseKnownHosts(OPENSSH_HASHED);
    expect(entries).toHaveLength(3);
    expect(checkHostKey(entries, '127.0.0.1', 2299, KEY)).toEqual({ ok: true, line: 1 });
    expect(checkHostKey(entries, 'login1.example.org', 22, KEY)).toEqual({ ok: true, line: 2 });
    expect(checkHostKey(entries, 'LOGIN1.example.org', 22, KEY).ok).toBe(true);
    expect(checkHostKey(entries, '10.0.0.5', 22, KEY)).toEqual({ ok: true, line: 3 });
    // Same host on another port is another entry in OpenSSH's eyes.
    expect(checkHostKey(entries, 'login1.example.org', 2222, KEY)).toEqual({ ok: false, reason: 'unknown', lines: [] });
    expect(checkHostKey(entries, '127.0.0.1', 22, KEY).ok).toBe(false);
  });

  it('tells a changed key from an unknown host', () => {
    const entries = parseKnownHosts(`# comment\n\n[10.99.0.2]:2222 ssh-ed25519 ${KEY_B64} root@login\n`);
    expect(checkHostKey(entries, '10.99.0.2', 2222, KEY)).toEqual({ ok: true, line: 3 });
    expect(checkHostKey(entries, '10.99.0.2', 2222, OTHER)).toEqual({ ok: false, reason: 'changed', lines: [3] });
    expect(checkHostKey(entries, '10.99.0.3', 2222, KEY)).toEqual({ ok: false, reason: 'unknown', lines: [] });
  });

  it('accepts any of several keys for a host (key rotation) and plain comma lists', () => {
    const entries = parseKnownHosts(`login,10.0.0.1 ssh-ed25519 ${OTHER_B64}\nlogin ssh-ed25519 ${KEY_B64}\n`);
    expect(checkHostKey(entries, 'login', 22, KEY)).toEqual({ ok: true, line: 2 });
    expect(checkHostKey(entries, '10.0.0.1', 22, OTHER)).toEqual({ ok: true, line: 1 });
  });

  it('honours wildcards and negation', () => {
    expect(patternListMatches(['*.example.org'], 'login1.example.org')).toBe(true);
    expect(patternListMatches(['login?.example.org'], 'login12.example.org')).toBe(false);
    expect(patternListMatches(['*.example.org', '!bad.example.org'], 'bad.example.org')).toBe(false);
    expect(patternListMatches(['[*.example.org]:2222'], '[login.example.org]:2222')).toBe(true);
    expect(patternListMatches(['!bad'], 'good')).toBe(false); // negation alone never matches
    expect(patternListMatches(['a.b'], 'axb')).toBe(false); // dots are literal
  });

  it('refuses a @revoked key even when it is also listed as valid; ignores @cert-authority lines', () => {
    const text = [`login ssh-ed25519 ${KEY_B64}`, `@revoked * ssh-ed25519 ${KEY_B64}`, `@cert-authority *.example.org ssh-ed25519 ${OTHER_B64}`].join('\n');
    const entries = parseKnownHosts(text);
    expect(checkHostKey(entries, 'login', 22, KEY)).toEqual({ ok: false, reason: 'revoked', lines: [2] });
    // A CA does not vouch for anything here (ssh2 has no host certificates).
    expect(checkHostKey(entries, 'x.example.org', 22, OTHER)).toEqual({ ok: false, reason: 'unknown', lines: [] });
  });

  it('skips malformed lines instead of failing the whole file', () => {
    const entries = parseKnownHosts(`garbage\n@unknown-marker h ssh-ed25519 ${KEY_B64}\n|1|broken ssh-ed25519 ${KEY_B64}\nok ssh-ed25519 ${KEY_B64}\n`);
    expect(entries.map((e) => e.line)).toEqual([4]);
  });

  it('writes hashed lines it can read back (accept-new)', () => {
    const line = hashedKnownHostsLine('10.99.0.2', 2222, KEY);
    expect(line).toMatch(/^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 /);
    expect(line).not.toContain('10.99.0.2');
    const entries = parseKnownHosts(line);
    expect(checkHostKey(entries, '10.99.0.2', 2222, KEY).ok).toBe(true);
    expect(checkHostKey(entries, '10.99.0.2', 22, KEY).ok).toBe(false);
  });

  it('prefers the host key algorithms already known for the host', () => {
    const entries = parseKnownHosts(`h ssh-rsa ${KEY_B64}\nh ecdsa-sha2-nistp256 ${KEY_B64}\nother ssh-ed25519 ${KEY_B64}\n`);
    expect(preferredHostKeyAlgorithms(entries, 'h', 22)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ecdsa-sha2-nistp256']);
    expect(preferredHostKeyAlgorithms(entries, 'nobody', 22)).toEqual([]);
  });
});
