/**
 * Secrets in logs and error messages: API tokens (valid, wrong, revoked, misplaced in a URL)
 * and SSH key passphrases (right and wrong, against an SSH endpoint that is not there). Every
 * log line of these daemons goes through HPCB_LOG_TEE into one file, which the scanner of
 * test/security/secretScan.ts then reads, as the whole-suite scan would.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/tokens.js';
import { Bridge } from '../../src/bridge.js';
import { createLogger, LOG_TEE_ENV, redactTokenLike } from '../../src/logging.js';
import { buildSettings } from '../../src/settings/load.js';
import { call, startDaemon } from '../api/helpers.js';
import { scanFiles, scanText } from './secretScan.js';

let dir: string;
let teeFile: string;
const before = process.env[LOG_TEE_ENV];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hpcb-secrets-'));
  teeFile = join(dir, 'suite.log');
  process.env[LOG_TEE_ENV] = teeFile;
});
afterAll(() => {
  if (before === undefined) delete process.env[LOG_TEE_ENV];
  else process.env[LOG_TEE_ENV] = before;
  rmSync(dir, { recursive: true, force: true });
});

describe('the secret scanner', () => {
  it('finds whole tokens, bearer credentials and given secrets, masks them in its report, and passes clean logs', () => {
    const tok = `hpcb_0123abcd_${'A'.repeat(43)}`;
    const text = [
      '{"msg":"request","path":"/api/v1/jobs","user":"alice"}',
      `{"msg":"oops","detail":"token ${tok} rejected"}`,
      '{"msg":"h","authorization":"Bearer abcdefgh12345"}',
      '{"msg":"ssh","err":"bad passphrase hunter2-secret"}',
      '{"msg":"redacted","token":"[redacted]","authorization":"Bearer [redacted]","id":"hpcb_0123abcd_[redacted]"}',
    ].join('\n');
    const found = scanText(text, ['hunter2-secret']);
    expect(found.map((f) => [f.line, f.kind])).toEqual([
      [2, 'api-token'],
      [3, 'bearer'],
      [4, 'secret'],
    ]);
    for (const f of found) {
      expect(f.excerpt).not.toContain(tok);
      expect(f.excerpt).not.toContain('hunter2-secret');
      expect(f.excerpt).not.toContain('abcdefgh12345');
    }
    expect(redactTokenLike(`/api/v1/jobs/${tok}`)).toBe('/api/v1/jobs/hpcb_0123abcd_[redacted]');
  });

  it('HPCB_LOG_TEE copies every line (already redacted) to the file the scan reads', () => {
    const file = join(dir, 'tee-check.log');
    process.env[LOG_TEE_ENV] = file;
    try {
      const lines: string[] = [];
      const log = createLogger({ destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }) });
      const tok = `hpcb_feedbeef_${'B'.repeat(43)}`;
      log.info({ token: tok, headers: { authorization: `Bearer ${tok}` } }, 'structured: redacted');
      log.warn(`free text: ${tok}`);
      const copied = readFileSync(file, 'utf8');
      expect(copied).toBe(lines.join(''));
      // The redaction list covers the structured fields; free text is what the scan is for.
      expect(scanFiles([file]).map((f) => [f.line, f.kind])).toEqual([[2, 'api-token']]);
    } finally {
      process.env[LOG_TEE_ENV] = teeFile;
    }
  });
});

describe('tokens never reach logs or error answers', () => {
  it('valid, wrong, revoked, misplaced and malformed tokens', async () => {
    const d = await startDaemon();
    try {
      const tokens = new TokenStore(d.bridge.store.tokens);
      const revoked = tokens.create('alice', 'old').token;
      tokens.revoke(revoked);
      const wrong = `${d.tokens.alice.slice(0, -4)}zzzz`;
      const answers: string[] = [];
      const record = async (r: Promise<{ text: string; status: number }>) => answers.push((await r).text);
      await record(call(d, 'POST', '/jobs', { body: { name: 'ok', tasks: [{ cmd: 'echo fine' }] } }));
      await record(call(d, 'GET', '/jobs', { token: wrong }));
      await record(call(d, 'GET', '/jobs', { token: revoked }));
      await record(call(d, 'GET', '/jobs', { token: `${d.tokens.bob}extra` }));
      await record(call(d, 'GET', `/jobs/${d.tokens.alice}`)); // a client that put its token in the path
      await record(call(d, 'GET', `/nope/${d.tokens.bob}`, { token: null }));
      await record(call(d, 'GET', `/jobs?token=${d.tokens.alice}`, { token: null }));
      await record(call(d, 'GET', '/jobs', { token: null, headers: { authorization: `Basic ${d.tokens.alice}` } }));
      await record(call(d, 'POST', '/jobs', { body: { name: 'x', tasks: [{ cmd: 'true' }] }, headers: { 'idempotency-key': 'k' } }));
      await call(d, 'GET', `/jobs/1/wait?timeout=30`);
      const all = [d.tokens.alice, d.tokens.bob, revoked, wrong];
      // Answers: no token, except where the client itself put one into what is echoed (the path of a 404).
      for (const a of answers) for (const t of all) expect(a.replace(`/api/v1/jobs/${d.tokens.alice}`, '').replace(`/api/v1/nope/${d.tokens.bob}`, '')).not.toContain(t);
      expect(d.logs.length).toBeGreaterThan(5);
      expect(scanText(d.logs.join(''), all)).toEqual([]);
    } finally {
      await d.close();
    }
    expect(scanFiles([teeFile])).toEqual([]);
    expect(readFileSync(teeFile, 'utf8')).toMatch(/"msg":"request"/);
  });
});

describe('SSH key passphrases never reach logs, health answers or errors', () => {
  it('an encrypted key whose passphrase is right or wrong, against an SSH port that does not answer like sshd', async () => {
    const passphrase = `pp-${Date.now()}-never-log-me`;
    const key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'secrets-test', '-f', key]);
    const passFile = join(dir, 'pass');
    writeFileSync(passFile, `${passphrase}\n`, { mode: 0o600 });
    const wrongFile = join(dir, 'wrongpass');
    writeFileSync(wrongFile, `${passphrase}-wrong\n`, { mode: 0o600 });
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, '');
    // A port nobody listens on (taken, then released): connections are refused at once, after
    // the key has been decrypted (right passphrase) or refused (wrong one).
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const lines: string[] = [];
    try {
      // Both at once: each takes the engine's connect retries before it gives up or degrades.
      await Promise.all(
        [passFile, wrongFile].map(async (pf) => {
          const dataDir = mkdtempSync(join(dir, 'data-'));
          const settings = buildSettings({ dataDir, logLevel: 'debug' }, [
            { file: '(test)', raw: { name: 'far', scheduler: 'slurm', transport: 'ssh', sharedAccount: true, scratchRoot: '/scratch/x', pollIntervalSeconds: 0.2, ssh: { host: '127.0.0.1', port, user: 'u', privateKey: key, passphraseFile: pf, knownHosts } } },
          ]);
          const logger = createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }) });
          const bridge = Bridge.open(settings, { logger });
          bridge.start();
          const { job } = bridge.submit('alice', { name: 'j', tasks: [{ cmd: 'true' }] });
          // Until the failure has been seen and logged: the cluster degraded, or the job failed.
          const end = Date.now() + 75_000;
          const seen = () => bridge.health().some((h) => h.lastError) || ['failed', 'completed'].includes(bridge.get(job.id, 'alice')!.status);
          while (!seen() && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
          expect(seen()).toBe(true);
          const visible = JSON.stringify({ health: bridge.health(), job: bridge.get(job.id, 'alice'), events: bridge.store.events(job.id) });
          expect(visible).not.toContain(passphrase);
          await bridge.close();
        }),
      );
    } finally {
      srv.close();
    }
    expect(lines.join('')).toMatch(/degraded|ECONNREFUSED|passphrase|key/i);
    expect(lines.length).toBeGreaterThan(0);
    expect(scanText(lines.join(''), [passphrase])).toEqual([]);
    expect(scanFiles([teeFile], [passphrase])).toEqual([]);
  }, 120_000);
});
