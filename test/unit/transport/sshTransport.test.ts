/**
 * SshTransport against an in-process SSH server (./fakeSshd.ts): the failure paths that a real
 * sshd cannot be made to take on demand. The cluster suite (test/contract/*.ssh.test.ts)
 * covers the same transport against OpenSSH.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTransport, type SshTransportEvent, type SshTransportOptions } from '../../../src/transport/index.js';
import type { SshTransport } from '../../../src/transport/ssh/sshTransport.js';
import { rejection } from '../../contract/transport.contract.js';
import { startFakeSshd, type FakeSshd } from './fakeSshd.js';

let sshd: FakeSshd;
const opened: SshTransport[] = [];

beforeAll(async () => {
  sshd = await startFakeSshd();
});
afterAll(async () => {
  await sshd.close();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
  Object.assign(sshd.behaviour, { refuseSessions: 0, closeWithoutExit: false, dropOnExec: false });
});

function open(over: Partial<SshTransportOptions> = {}): SshTransport {
  const t = createTransport({
    kind: 'ssh',
    host: '127.0.0.1',
    port: sshd.port,
    user: 'tester',
    privateKeyPath: sshd.clientKeyPath,
    knownHostsPath: sshd.knownHostsPath,
    reconnect: { minIntervalMs: 0, baseDelayMs: 10 },
    ...over,
  });
  opened.push(t);
  return t;
}

describe('SshTransport (in-process server)', () => {
  it('runs commands over one connection and counts what it does', async () => {
    const t = open();
    const r = await t.exec(['sh', '-c', 'printf out; printf err >&2; exit 5']);
    expect(r).toMatchObject({ exitCode: 5, signal: null, stdout: 'out', stderr: 'err' });
    expect(await t.exec(['sh', '-c', 'kill -TERM $$'])).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    expect(t.stats()).toMatchObject({ connected: true, connectionsOpened: 1, reconnects: 0, channelsOpened: 2, execs: 2, channelsInUse: 0 });
    expect(t.id).toBe(`ssh:tester@127.0.0.1:${sshd.port}`);
  });

  it('a channel closed without an exit status is CONNECTION_LOST, never a result', async () => {
    const t = open();
    sshd.behaviour.closeWithoutExit = true;
    const e = await rejection(t.exec(['sh', '-c', 'printf "looks fine"; exit 0']));
    expect(e.code).toBe('CONNECTION_LOST');
    expect(e.transient).toBe(true);
    expect(e.context.stdout).toBe('looks fine');
  });

  it('a connection dropped mid-command rejects CONNECTION_LOST, and the next command reconnects', async () => {
    const events: SshTransportEvent[] = [];
    const t = open({ onEvent: (e) => events.push(e) });
    await t.exec(['true']);
    sshd.behaviour.dropOnExec = true;
    const e = await rejection(t.exec(['sleep', '5']));
    expect(e.code).toBe('CONNECTION_LOST');
    expect(e.transient).toBe(true);
    sshd.behaviour.dropOnExec = false;
    expect((await t.exec(['printf', 'again'])).stdout).toBe('again');
    expect(t.stats()).toMatchObject({ connectionsOpened: 2, reconnects: 1, disconnects: 1 });
    expect(events.map((x) => x.type)).toEqual(['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
  });

  it('retries "Channel open failure" with backoff, then gives up with CHANNEL_OPEN (transient)', async () => {
    const t = open({ channelOpenBackoffMs: 1, channelOpenRetries: 3 });
    await t.exec(['true']);
    sshd.behaviour.refuseSessions = 2;
    expect((await t.exec(['printf', 'ok'])).stdout).toBe('ok');
    expect(t.stats().channelOpenRetries).toBe(2);
    sshd.behaviour.refuseSessions = 10;
    const e = await rejection(t.exec(['true']));
    expect(e.code).toBe('CHANNEL_OPEN');
    expect(e.transient).toBe(true);
    expect(t.stats()).toMatchObject({ connectionsOpened: 1, channelsInUse: 0 });
  });

  it('never has more session channels open than its budget', async () => {
    const t = open({ channelBudget: 3 });
    const before = sshd.maxConcurrentCommands;
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => t.exec(['sh', '-c', `sleep 0.05; echo ${i}`])));
    expect(results.map((r) => Number(r.stdout))).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(sshd.maxConcurrentCommands).toBeLessThanOrEqual(Math.max(before, 3));
    expect(sshd.maxConcurrentCommands).toBe(3);
  });

  it('refuses a changed host key (SSH_HOST_KEY, not transient) without retrying', async () => {
    const t = open({ knownHostsPath: sshd.wrongKnownHostsPath });
    const e = await rejection(t.exec(['true']));
    expect(e.code).toBe('SSH_HOST_KEY');
    expect(e.transient).toBe(false);
    expect(e.message).toContain(`127.0.0.1 port ${sshd.port}`);
    expect(e.message).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
    expect(t.stats().connectAttempts).toBe(1);
  });

  it('refuses an unauthorized key with SSH_AUTH; an encrypted key needs the right passphrase, which is never shown', async () => {
    const bad = await rejection(open({ privateKeyPath: sshd.otherKeyPath }).exec(['true']));
    expect(bad.code).toBe('SSH_AUTH');
    expect(bad.transient).toBe(false);

    expect((await open({ privateKeyPath: sshd.encryptedKeyPath, passphrase: sshd.passphrase }).exec(['printf', 'x'])).stdout).toBe('x');
    const wrong = 'not the passphrase';
    const t = open({ privateKeyPath: sshd.encryptedKeyPath, passphrase: wrong });
    const e = await rejection(t.exec(['true']));
    expect(e.code).toBe('SSH_AUTH');
    expect(e.message).toContain(sshd.encryptedKeyPath);
    for (const s of [e.message, JSON.stringify(e), e.describe(), t.id]) expect(s).not.toContain(wrong);
    const missing = await rejection(open({ privateKeyPath: `${sshd.dir}/nope` }).exec(['true']));
    expect(missing.code).toBe('SSH_AUTH');
  });

  it('a refused connection is SSH_CONNECT (transient), retried connectAttempts times', async () => {
    const t = open({ port: 1, connectAttempts: 3, knownHostsPath: sshd.knownHostsPath });
    const e = await rejection(t.exec(['true']));
    expect(e.code).toBe('SSH_CONNECT');
    expect(e.transient).toBe(true);
    expect(t.stats()).toMatchObject({ connectAttempts: 3, connectFailures: 3, connectionsOpened: 0 });
  });

  it('close() wakes an operation waiting out a reconnect backoff, and is idempotent', async () => {
    const t = open({ port: 1, connectAttempts: 5, reconnect: { minIntervalMs: 0, baseDelayMs: 60_000, jitter: 0 } });
    const pending = rejection(t.exec(['true']));
    await new Promise((r) => setTimeout(r, 100));
    await t.close();
    await t.close();
    const e = await pending;
    expect(e.transient).toBe(false);
    expect(e.message).toContain('closed');
  });

  it('connects through a jump host with forwardOut, verifying both hops', async () => {
    const before = sshd.connections;
    const t = open({ jump: { host: '127.0.0.1', port: sshd.port, user: 'bastion' } });
    expect((await t.exec(['printf', 'hop'])).stdout).toBe('hop');
    expect(sshd.connections - before).toBe(2);
    expect(t.id).toBe(`ssh:tester@127.0.0.1:${sshd.port} via bastion@127.0.0.1:${sshd.port}`);
    const e = await rejection(
      open({ jump: { host: '127.0.0.1', port: sshd.port, user: 'bastion', knownHostsPath: sshd.wrongKnownHostsPath } }).exec(['true']),
    );
    expect(e.code).toBe('SSH_HOST_KEY');
    expect(e.message).toContain('jump host');
  });
});

describe('createTransport', () => {
  it('validates ssh options and lists every problem, without echoing the passphrase', () => {
    let err: unknown;
    try {
      createTransport({ kind: 'ssh', host: '', user: 'u', knownHostsPath: '/k', channelBudget: 1, passphrase: 'sekrit', port: 70000 } as SshTransportOptions);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'INVALID_CONFIG' });
    const msg = (err as Error).message;
    expect(msg).toContain('host');
    expect(msg).toContain('channelBudget');
    expect(msg).toContain('port');
    expect(JSON.stringify(err)).not.toContain('sekrit');
  });

  it('needs a key or an agent, and knows only local and ssh', () => {
    expect(() => createTransport({ kind: 'ssh', host: 'h', user: 'u', knownHostsPath: '/k' })).toThrow(/privateKeyPath or agent/);
    expect(() => createTransport({ kind: 'nfs' } as never)).toThrow(/unknown transport kind/);
    expect(createTransport({ kind: 'local' }).id).toBe('local');
  });
});
