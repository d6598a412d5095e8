/**
 * The transport contract against SshTransport and the real test cluster's sshd, plus what only
 * SSH has: host keys, authentication, jump hosts, connection loss and reconnection, chatty rc
 * files, the channel budget at MaxSessions.
 *
 * Some tests restart sshd or cut the link; the cluster project runs files one at a time, and
 * every such test restores the cluster before it ends (also when it fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransport, type SshTransportEvent, type SshTransportOptions } from '../../src/transport/index.js';
import type { SshTransport } from '../../src/transport/ssh/sshTransport.js';
import { fingerprintSha256, parseKnownHosts } from '../../src/transport/ssh/knownHosts.js';
import { clusterCtl, loadClusterEnv } from '../cluster/env.js';
import { makeRandomFile } from './files.js';
import { defineTransportContract, rejection } from './transport.contract.js';

const env = loadClusterEnv();

function sshOptions(over: Partial<SshTransportOptions> = {}): SshTransportOptions {
  return {
    kind: 'ssh',
    host: env.host,
    port: env.port,
    user: env.user,
    privateKeyPath: env.privateKey,
    knownHostsPath: env.knownHosts,
    ...over,
  };
}

/** A transport that is closed when the test's describe block ends. */
const opened: SshTransport[] = [];
function open(over: Partial<SshTransportOptions> = {}): SshTransport {
  const t = createTransport(sshOptions(over));
  opened.push(t);
  return t;
}
afterAll(async () => {
  await Promise.all(opened.map((t) => t.close()));
});

let localTmp: string;
beforeAll(async () => {
  localTmp = await mkdtemp(join(tmpdir(), 'hpcb-ssh-test-'));
});
afterAll(async () => {
  await rm(localTmp, { recursive: true, force: true });
});

/** The real host key's fingerprint, from the known_hosts the lab wrote. */
async function realFingerprint(): Promise<string> {
  const entries = parseKnownHosts(await readFile(env.knownHosts, 'utf8'));
  expect(entries.length).toBeGreaterThan(0);
  return fingerprintSha256(entries[0]!.key);
}

defineTransportContract('ssh', () => createTransport(sshOptions()), { scratchRoot: env.scratchRoot });

defineTransportContract(
  'ssh, login shell, through a jump host',
  () => createTransport(sshOptions({ loginShell: true, jump: { host: env.host, port: env.port, user: env.user } })),
  { scratchRoot: env.scratchRoot, bigFileBytes: 64 << 20 },
);

describe('ssh: host keys', () => {
  it('refuses a changed host key with SSH_HOST_KEY naming host, port, file and the offered fingerprint', async () => {
    const t = open({ knownHostsPath: env.wrongKnownHosts });
    const e = await rejection(t.exec(['true']));
    expect(e.code).toBe('SSH_HOST_KEY');
    expect(e.transient).toBe(false);
    const fp = await realFingerprint();
    for (const part of [env.host, String(env.port), env.wrongKnownHosts, fp, 'CHANGED']) expect(e.message).toContain(part);
    expect(e.context).toMatchObject({ host: env.host, port: env.port, fingerprint: fp, reason: 'changed' });
    expect(t.stats().connectionsOpened).toBe(0);
  });

  it('refuses an unknown host (no trust on first use by default)', async () => {
    const kh = join(localTmp, 'known_hosts_other');
    await writeFile(kh, 'other.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE21ddikEleSsAFO/p8EGKbSXAoqfe1rRv4dyWmcR6Ec\n');
    const e = await rejection(open({ knownHostsPath: kh }).exec(['true']));
    expect(e.code).toBe('SSH_HOST_KEY');
    expect(e.context.reason).toBe('unknown');
    expect(e.message).toContain(kh);
    expect(e.message).toContain(await realFingerprint());
    expect(e.message).toContain('ssh-keyscan');
  });

  it('refuses when the known_hosts file is missing', async () => {
    const e = await rejection(open({ knownHostsPath: join(localTmp, 'does-not-exist') }).exec(['true']));
    expect(e.code).toBe('SSH_HOST_KEY');
    expect(e.message).toContain('does-not-exist');
  });

  it('accepts a hashed known_hosts', async () => {
    const text = await readFile(env.knownHostsHashed, 'utf8');
    expect(text).toMatch(/^\|1\|/m);
    expect(text).not.toContain(env.host);
    const r = await open({ knownHostsPath: env.knownHostsHashed }).exec(['printf', 'ok']);
    expect(r.stdout).toBe('ok');
  });

  it('refuses a key marked @revoked even when it is also listed as valid', async () => {
    const kh = join(localTmp, 'known_hosts_revoked');
    const good = (await readFile(env.knownHosts, 'utf8')).trim().split('\n')[0]!;
    const [, type, key] = good.split(/\s+/);
    await writeFile(kh, `${good}\n@revoked * ${type} ${key}\n`);
    const e = await rejection(open({ knownHostsPath: kh }).exec(['true']));
    expect(e.code).toBe('SSH_HOST_KEY');
    expect(e.context.reason).toBe('revoked');
  });

  it("accept-new (opt-in) records an unknown host's key, hashed, and later connections verify against it", async () => {
    const kh = join(localTmp, 'known_hosts_new');
    await writeFile(kh, '');
    expect((await open({ knownHostsPath: kh, hostKeyPolicy: 'accept-new' }).exec(['true'])).exitCode).toBe(0);
    const recorded = await readFile(kh, 'utf8');
    expect(recorded).toMatch(/^\|1\|\S+ ssh-ed25519 /);
    expect((await open({ knownHostsPath: kh }).exec(['true'])).exitCode).toBe(0);
    // A changed key is still refused under accept-new.
    const e = await rejection(open({ knownHostsPath: env.wrongKnownHosts, hostKeyPolicy: 'accept-new' }).exec(['true']));
    expect(e.code).toBe('SSH_HOST_KEY');
  });
});

describe('ssh: authentication', () => {
  it('refuses a key the server does not accept with SSH_AUTH, not transient', async () => {
    const t = open({ privateKeyPath: env.wrongKey });
    const e = await rejection(t.exec(['true']));
    expect(e.code).toBe('SSH_AUTH');
    expect(e.transient).toBe(false);
    expect(e.message).toContain(env.wrongKey);
    // Not retried: a refused key does not become acceptable by asking again.
    expect(t.stats().connectAttempts).toBe(1);
  });

  it('uses an encrypted key with its passphrase, and never shows the passphrase', async () => {
    const t = open({ privateKeyPath: env.encryptedKey, passphrase: env.passphrase });
    expect((await t.exec(['whoami'])).stdout.trim()).toBe(env.user);
    expect(t.id).not.toContain(env.passphrase);
    const wrong = `${env.passphrase}-wrong`;
    const tw = open({ privateKeyPath: env.encryptedKey, passphrase: wrong });
    const e = await rejection(tw.exec(['true']));
    expect(e.code).toBe('SSH_AUTH');
    for (const shown of [e.message, JSON.stringify(e), e.describe(), JSON.stringify(tw.stats()), tw.id]) {
      expect(shown).not.toContain(wrong);
      expect(shown).not.toContain(env.passphrase);
    }
    const none = await rejection(open({ privateKeyPath: env.encryptedKey }).exec(['true']));
    expect(none.code).toBe('SSH_AUTH');
  });

  it('authenticates through ssh-agent', async () => {
    const sock = join(localTmp, 'agent.sock');
    const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      await waitFor(async () => (await stat(sock).catch(() => null)) !== null);
      await run('ssh-add', [env.privateKey], { SSH_AUTH_SOCK: sock });
      const t = open({ privateKeyPath: undefined, agent: sock });
      expect((await t.exec(['whoami'])).stdout.trim()).toBe(env.user);
    } finally {
      agent.kill('SIGTERM');
    }
  });
});

describe('ssh: jump host', () => {
  it('verifies each hop against its own known_hosts', async () => {
    const jumpBad = await rejection(
      open({ jump: { host: env.host, port: env.port, user: env.user, knownHostsPath: env.wrongKnownHosts } }).exec(['true']),
    );
    expect(jumpBad.code).toBe('SSH_HOST_KEY');
    expect(jumpBad.message).toContain('jump host');
    expect(jumpBad.message).toContain(env.wrongKnownHosts);

    const targetBad = await rejection(
      open({ knownHostsPath: env.wrongKnownHosts, jump: { host: env.host, port: env.port, user: env.user, knownHostsPath: env.knownHosts } }).exec([
        'true',
      ]),
    );
    expect(targetBad.code).toBe('SSH_HOST_KEY');
    expect(targetBad.message).not.toContain('jump host');
  });
});

describe('ssh: connection loss and reconnection', () => {
  it('sshd restarting mid-command: the command rejects CONNECTION_LOST (never exit 0), the next exec reconnects', async () => {
    const events: SshTransportEvent[] = [];
    const t = open({ onEvent: (e) => events.push(e), reconnect: { baseDelayMs: 500, minIntervalMs: 500 }, connectAttempts: 10 });
    expect((await t.exec(['true'])).exitCode).toBe(0);
    const inFlight = rejection(t.exec(['sh', '-c', 'sleep 20; exit 0']));
    await new Promise((r) => setTimeout(r, 500));
    try {
      await clusterCtl('sshd-restart');
      const e = await inFlight;
      expect(e.code).toBe('CONNECTION_LOST');
      expect(e.transient).toBe(true);
    } finally {
      await clusterCtl('sshd-start');
    }
    const r = await t.exec(['printf', 'back']);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'back' });
    expect(t.stats()).toMatchObject({ connectionsOpened: 2, reconnects: 1, disconnects: 1, connected: true });
    expect(events.filter((e) => e.type === 'disconnected')).toHaveLength(1);
  });

  it('sshd restarting mid-transfer: the upload rejects transient, leaves nothing at the target, and the next upload completes byte-identical', async () => {
    const t = open({ reconnect: { baseDelayMs: 500, minIntervalMs: 500 }, connectAttempts: 10 });
    const src = join(localTmp, 'mid-transfer.bin');
    const want = await makeRandomFile(src, 256 << 20);
    const target = `${env.scratchRoot}/mid-transfer-${process.pid}.bin`;
    let sent = 0;
    let firstBytes!: () => void;
    const started = new Promise<void>((r) => (firstBytes = r));
    const inFlight = rejection(
      t.upload(src, target, {
        onProgress: (done) => {
          sent = done;
          if (done > 0) firstBytes();
        },
      }),
    );
    await started;
    const sentAtRestart = sent;
    try {
      await clusterCtl('sshd-restart');
      const e = await inFlight;
      expect(e.transient).toBe(true);
      expect(['CONNECTION_LOST', 'REMOTE_IO']).toContain(e.code);
    } finally {
      await clusterCtl('sshd-start');
    }
    // The restart really came during the transfer: bytes had gone, not all of them.
    expect(sentAtRestart).toBeGreaterThan(0);
    expect(sent).toBeLessThan(256 << 20);
    // Nothing half-written under the target's name; the next upload reconnects and finishes.
    expect(await t.stat(target)).toBeNull();
    await t.upload(src, target);
    // (The cut attempt's temporary sibling may stay behind: the connection that would have
    // removed it was gone. It is never read under the target's name.)
    const r = await t.exec(['sh', '-c', `sha256sum '${target}'; rm -f '${target}' '${env.scratchRoot}'/.mid-transfer-${process.pid}.bin.hpcb-*.part`]);
    expect(r.stdout.split(' ')[0]).toBe(want);
    expect(t.stats().reconnects).toBeGreaterThanOrEqual(1);
  });

  it('sshd down: operations reject SSH_CONNECT (transient), attempts are spaced, and it recovers once sshd is back', async () => {
    const events: Array<SshTransportEvent & { at: number }> = [];
    const minIntervalMs = 400;
    const t = open({
      onEvent: (e) => events.push({ ...e, at: performance.now() }),
      connectAttempts: 3,
      reconnect: { baseDelayMs: 100, minIntervalMs, jitter: 0 },
    });
    await clusterCtl('sshd-stop');
    try {
      const e = await rejection(t.exec(['true']));
      expect(e.code).toBe('SSH_CONNECT');
      expect(e.transient).toBe(true);
      const e2 = await rejection(t.exec(['true']));
      expect(e2.code).toBe('SSH_CONNECT');
      expect(events.filter((x) => x.type === 'connect-failed')).toHaveLength(6);
      // Never two attempts started closer than minIntervalMs (timers may fire a hair early).
      const starts = events.filter((x) => x.type === 'connecting');
      expect(starts).toHaveLength(6);
      for (let i = 1; i < starts.length; i++) expect(starts[i]!.at - starts[i - 1]!.at).toBeGreaterThanOrEqual(minIntervalMs - 5);
    } finally {
      await clusterCtl('sshd-start');
    }
    expect((await t.exec(['true'])).exitCode).toBe(0);
    expect(t.stats().connectionsOpened).toBe(1);
  });

  it('an idle connection dropped by the server is replaced transparently on next use', async () => {
    const t = open();
    expect((await t.exec(['true'])).exitCode).toBe(0);
    await t.stat(env.scratchRoot); // opens the SFTP channel too
    await clusterCtl('sshd-kill-sessions');
    await waitFor(() => !t.stats().connected);
    expect((await t.exec(['printf', 'again'])).stdout).toBe('again');
    expect((await t.stat(env.scratchRoot))?.type).toBe('directory');
    expect(t.stats().reconnects).toBe(1);
  });

  it('link cut: keepalive detects the dead peer, the command in flight rejects CONNECTION_LOST, then it reconnects', async () => {
    const t = open({ keepaliveIntervalMs: 1000, keepaliveCountMax: 2, readyTimeoutMs: 5000, connectAttempts: 10, reconnect: { minIntervalMs: 500, baseDelayMs: 500 } });
    expect((await t.exec(['true'])).exitCode).toBe(0);
    const inFlight = rejection(t.exec(['sh', '-c', 'sleep 30; exit 0']));
    await new Promise((r) => setTimeout(r, 300));
    await clusterCtl('link-down');
    try {
      const e = await inFlight;
      expect(e.code).toBe('CONNECTION_LOST');
    } finally {
      await clusterCtl('link-up');
    }
    expect((await t.exec(['printf', 'up'])).stdout).toBe('up');
  });
});

describe('ssh: output framing', () => {
  it('a chatty login environment (rc files printing to stdout and stderr) does not corrupt output, login shell or not', async () => {
    const t2 = (over: Partial<SshTransportOptions> = {}): SshTransport =>
      open({ user: env.user2.user, privateKeyPath: env.user2.privateKey, ...over });
    const plain = t2();
    const home = (await plain.exec(['printenv', 'HOME'])).stdout.trim();
    const files = ['.bashrc', '.bash_profile', '.bash_logout'];
    const saved = new Map<string, { data: Buffer; mode: number } | null>();
    for (const f of files) {
      const st = await plain.stat(`${home}/${f}`);
      saved.set(f, st ? { data: (await plain.readRange(`${home}/${f}`, 0, st.size))!, mode: st.mode } : null);
    }
    const junk = (tag: string): string =>
      [
        `printf '${tag}-OUT-no-newline'`,
        `printf '${tag}-ERR\\n' >&2`,
        `echo "${tag} $(date) motd-ish line"`,
        `printf '${tag}-ERR-no-newline' >&2`,
        `trap 'echo ${tag}-EXIT-TRAP; echo ${tag}-EXIT-TRAP-ERR >&2' EXIT`,
        '',
      ].join('\n');
    try {
      await plain.writeFile(`${home}/.bashrc`, junk('BASHRC'));
      await plain.writeFile(`${home}/.bash_profile`, `${junk('PROFILE')}. ~/.bashrc\n`);
      await plain.writeFile(`${home}/.bash_logout`, 'echo LOGOUT-JUNK; echo LOGOUT-JUNK-ERR >&2\n');
      for (const loginShell of [false, true]) {
        const t = t2({ loginShell });
        const r = await t.exec(['sh', '-c', 'printf "exact-out"; printf "exact-err" >&2; exit 4']);
        expect(r).toMatchObject({ exitCode: 4, stdout: 'exact-out', stderr: 'exact-err' });
        const empty = await t.exec(['true']);
        expect(empty).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
        const withOpts = await t.exec(['sh', '-c', 'pwd; printf "%s" "$X"'], { cwd: '/tmp', env: { X: 'x y' }, stdin: 'ignored' });
        expect(withOpts.stdout).toBe('/tmp\nx y');
        expect(withOpts.stderr).toBe('');
      }
      // The rc files really are chatty: a raw `bash -lc` shows the noise the framing removed.
      const raw = await plain.exec(['bash', '-lc', 'true']);
      expect(raw.stdout).toContain('PROFILE-OUT-no-newline');
      expect(raw.stderr).toContain('PROFILE-ERR');
    } finally {
      for (const f of files) {
        const s = saved.get(f);
        if (s) await plain.writeFile(`${home}/${f}`, s.data, { mode: s.mode });
        else await plain.remove(`${home}/${f}`);
      }
    }
  });

  it('an account whose shell exits before running the command is CLUSTER_UNAVAILABLE, not a result', async () => {
    const t = open({ user: env.user2.user, privateKeyPath: env.user2.privateKey });
    const home = (await t.exec(['printenv', 'HOME'])).stdout.trim();
    const st = await t.stat(`${home}/.bashrc`);
    const saved = st ? (await t.readRange(`${home}/.bashrc`, 0, st.size))! : null;
    try {
      await t.writeFile(`${home}/.bashrc`, 'echo "broken rc"; exit 0\n');
      const e = await rejection(t.exec(['printf', 'never']));
      expect(e.code).toBe('CLUSTER_UNAVAILABLE');
      expect(e.context.stdout).toContain('broken rc');
    } finally {
      // The exec above is refused, but SFTP does not run rc files, so restoring still works.
      if (saved && st) await t.writeFile(`${home}/.bashrc`, saved, { mode: st.mode });
      else await t.remove(`${home}/.bashrc`);
    }
  });
});

describe('ssh: channel budget', () => {
  it('with the budget at MaxSessions, the channel-open retry still gets 40 concurrent commands through', async () => {
    const t = open({ channelBudget: 10 });
    await t.stat(env.scratchRoot); // the SFTP channel holds one of the 10 slots
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => t.exec(['sh', '-c', 'sleep 0.2; printf %s "$1"', 'sh', String(i)])));
    results.forEach((r, i) => expect(r.stdout).toBe(String(i)));
    const s = t.stats();
    expect(s.connectionsOpened).toBe(1);
    expect(s.channelsInUse).toBe(1);
  });

  it('file operations and commands share one connection without starving each other', async () => {
    const t = open();
    const dir = `${env.scratchRoot}/budget-${randomBytes(4).toString('hex')}`;
    await t.mkdirp(dir);
    try {
      const src = join(localTmp, 'budget.bin');
      await copyFile(env.knownHosts, src);
      await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => t.exec(['sh', '-c', 'sleep 0.1; echo $1', 'sh', String(i)])),
        ...Array.from({ length: 10 }, (_, i) => t.writeFile(`${dir}/f${i}`, `content ${i}`)),
        ...Array.from({ length: 5 }, (_, i) => t.upload(src, `${dir}/u${i}`)),
      ]);
      expect((await t.list(dir))?.length).toBe(15);
      expect(t.stats().connectionsOpened).toBe(1);
    } finally {
      await t.remove(dir, { recursive: true });
    }
  });
});

describe('ssh: observability', () => {
  it('stats() counts connections and channels', async () => {
    const t = open();
    expect(t.stats()).toMatchObject({ connected: false, connectionsOpened: 0, channelsOpened: 0 });
    await t.exec(['true']);
    await t.exec(['true']);
    await t.stat('/');
    expect(t.stats()).toMatchObject({ connected: true, connectionsOpened: 1, reconnects: 0, channelsOpened: 3, execs: 2, channelsInUse: 1 });
    expect(t.id).toBe(`ssh:${env.user}@${env.host}:${env.port}`);
  });
});

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function run(cmd: string, args: string[], extraEnv: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}
