/**
 * An in-process SSH server (ssh2's Server) for unit tests of SshTransport: it runs exec
 * requests with the local `sh -c`, like sshd, and can misbehave on demand (refuse channels,
 * close a channel without an exit status, drop connections), which a real sshd does only
 * under conditions a unit test cannot arrange. SFTP is not served; the cluster tests cover it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey } from 'ssh2';

const { Server, utils } = ssh2;

export interface FakeBehaviour {
  /** Refuse this many session channel opens (as sshd does past MaxSessions). */
  refuseSessions: number;
  /** End exec channels without sending exit-status (as when sshd's session process dies). */
  closeWithoutExit: boolean;
  /** Destroy the whole connection as soon as an exec starts. */
  dropOnExec: boolean;
}

export interface FakeSshd {
  port: number;
  dir: string;
  clientKeyPath: string;
  encryptedKeyPath: string;
  passphrase: string;
  otherKeyPath: string;
  knownHostsPath: string;
  wrongKnownHostsPath: string;
  behaviour: FakeBehaviour;
  connections: number;
  /** Most commands running at once (sessions linger a moment longer, see budget.ts). */
  maxConcurrentCommands: number;
  dropAll(): void;
  close(): Promise<void>;
}

function publicBlob(publicLine: string): string {
  return publicLine.trim().split(/\s+/)[1]!;
}

export async function startFakeSshd(): Promise<FakeSshd> {
  const dir = await mkdtemp(join(tmpdir(), 'hpcb-fakesshd-'));
  const host = utils.generateKeyPairSync('ed25519');
  const wrongHost = utils.generateKeyPairSync('ed25519');
  const client = utils.generateKeyPairSync('ed25519');
  const passphrase = 'fake passphrase 1234';
  const encrypted = utils.generateKeyPairSync('ed25519', { passphrase, cipher: 'aes256-ctr', rounds: 4 });
  const other = utils.generateKeyPairSync('ed25519');
  const allowed = [client.public, encrypted.public].map((p) => utils.parseKey(p) as ParsedKey);

  const live = new Set<Connection>();
  let running = 0;
  const state = {
    behaviour: { refuseSessions: 0, closeWithoutExit: false, dropOnExec: false } as FakeBehaviour,
    connections: 0,
    maxConcurrentCommands: 0,
  };

  const server = new Server({ hostKeys: [host.private] }, (conn) => {
    state.connections++;
    live.add(conn);
    conn.on('close', () => live.delete(conn));
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const key = allowed.find((k) => k.type === ctx.key.algo && k.getPublicSSH().equals(ctx.key.data));
      if (!key) return ctx.reject(['publickey']);
      if (ctx.signature && ctx.blob && !key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return ctx.reject(['publickey']);
      ctx.accept();
    });
    conn.on('ready', () => {
      conn.on('tcpip', (accept, reject, info) => {
        const sock = netConnect(info.destPort, info.destIP);
        sock.once('connect', () => {
          const ch = accept();
          ch.pipe(sock).pipe(ch);
          ch.on('close', () => sock.destroy());
        });
        sock.once('error', () => reject());
      });
      conn.on('session', (accept, reject) => {
        if (state.behaviour.refuseSessions > 0) {
          state.behaviour.refuseSessions--;
          reject();
          return;
        }
        const session = accept();
        session.on('exec', (acceptExec, _rejectExec, info) => {
          const stream = acceptExec();
          if (state.behaviour.dropOnExec) {
            conn.end();
            for (const c of live) c.end();
            return;
          }
          const child = spawn('sh', ['-c', info.command], { stdio: ['pipe', 'pipe', 'pipe'] });
          running++;
          state.maxConcurrentCommands = Math.max(state.maxConcurrentCommands, running);
          child.stdout.pipe(stream, { end: false });
          child.stderr.pipe(stream.stderr, { end: false });
          stream.pipe(child.stdin);
          child.stdin.on('error', () => {});
          child.on('close', (code, signal) => {
            running--;
            if (!state.behaviour.closeWithoutExit) {
              if (code !== null) stream.exit(code);
              else stream.exit(String(signal).replace(/^SIG/, ''), false, '');
            }
            stream.end();
          });
        });
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;

  const clientKeyPath = join(dir, 'id_client');
  const encryptedKeyPath = join(dir, 'id_encrypted');
  const otherKeyPath = join(dir, 'id_other');
  const knownHostsPath = join(dir, 'known_hosts');
  const wrongKnownHostsPath = join(dir, 'known_hosts_wrong');
  await writeFile(clientKeyPath, client.private, { mode: 0o600 });
  await writeFile(encryptedKeyPath, encrypted.private, { mode: 0o600 });
  await writeFile(otherKeyPath, other.private, { mode: 0o600 });
  await writeFile(knownHostsPath, `[127.0.0.1]:${port} ssh-ed25519 ${publicBlob(host.public)}\n`);
  await writeFile(wrongKnownHostsPath, `[127.0.0.1]:${port} ssh-ed25519 ${publicBlob(wrongHost.public)}\n`);

  return {
    port,
    dir,
    clientKeyPath,
    encryptedKeyPath,
    passphrase,
    otherKeyPath,
    knownHostsPath,
    wrongKnownHostsPath,
    get behaviour() {
      return state.behaviour;
    },
    get connections() {
      return state.connections;
    },
    get maxConcurrentCommands() {
      return state.maxConcurrentCommands;
    },
    dropAll() {
      for (const c of live) c.end();
    },
    async close() {
      for (const c of live) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
