/**
 * Bind an App to the address in settings: TCP on 127.0.0.1 by default, TLS when a certificate
 * and key are configured, or a Unix socket (for `ssh -L localport:/path/to.sock login-node`,
 * which keeps the daemon off the network entirely; tokens are still required on it).
 */
import { existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { DaemonConfig } from '../settings/schema.js';
import type { App } from './app.js';

export interface Listening {
  server: Server;
  /** Base URL for clients (http(s)://host:port, or unix:<path>). */
  url: string;
  /** Stop accepting, end event streams and long-polls, then wait for connections to finish. */
  close(): Promise<void>;
}

/**
 * Keep-alive: the server keeps an idle connection longer than any well-behaved client or proxy
 * does (Node's fetch closes after the server's hint less a margin, or 4 s without one; reverse
 * proxies typically after 60 s), so the client always closes first and never sends a request
 * on a connection the server is closing at that moment. The headers timeout must exceed it, or
 * it would cut idle kept-alive connections first.
 */
export const KEEP_ALIVE_MS = 65_000;
/** What the server tells clients (Keep-Alive: timeout=N): less than it really waits, so a client that honours the hint still closes first. */
const HINT_MARGIN_MS = 5_000;
/** At shutdown, requests still running after this long are cut (their clients retry). */
const DRAIN_MS = 10_000;

export async function listen(app: App, cfg: DaemonConfig['listen'], opts: { keepAliveMs?: number } = {}): Promise<Listening> {
  const keepAliveMs = opts.keepAliveMs ?? KEEP_ALIVE_MS;
  const hint = `timeout=${Math.max(1, Math.floor((keepAliveMs - HINT_MARGIN_MS) / 1000))}`;
  let closing = false;
  // Open connections and how many requests each has in progress. At shutdown the idle ones
  // (kept alive, or never used: Node's own idle sweep leaves those) are closed at once, and a
  // busy one as soon as its last answer is out.
  const sockets = new Map<Socket, number>();
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const sock = req.socket;
    sockets.set(sock, (sockets.get(sock) ?? 0) + 1);
    res.once('close', () => {
      if (!sockets.has(sock)) return;
      const left = sockets.get(sock)! - 1;
      sockets.set(sock, left);
      if (closing && left === 0) sock.end();
    });
    if (closing) {
      // A request on a kept-alive connection after close() began: refused with a status the
      // SDK retries, and the connection closed, so the client reconnects to the next daemon.
      const body = JSON.stringify({ error: { code: 'SHUTTING_DOWN', message: 'the daemon is stopping; retry shortly' } });
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'retry-after': '1', connection: 'close' });
      res.end(body);
      return;
    }
    // Setting it here also keeps Node from sending its own hint, which equals the real timeout.
    res.setHeader('keep-alive', hint);
    app.handle(req, res);
  };
  const server: Server = cfg.tls
    ? (createHttps({ cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key) }, handler) as unknown as Server)
    : createHttp(handler);
  // Long-polls last up to maxWaitSeconds; the default 5 s keep-alive and 300 s request timeouts
  // must not cut them or idle event streams.
  server.on(cfg.tls ? 'secureConnection' : 'connection', (sock: Socket) => {
    if (!sockets.has(sock)) sockets.set(sock, 0);
    sock.once('close', () => sockets.delete(sock));
  });
  server.requestTimeout = 0;
  server.keepAliveTimeout = keepAliveMs;
  server.headersTimeout = keepAliveMs + 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (cfg.socket) {
      // A socket file left by a daemon that died is removed; anything else there is not ours.
      if (existsSync(cfg.socket) && lstatSync(cfg.socket).isSocket()) unlinkSync(cfg.socket);
      server.listen(cfg.socket, () => resolve());
    } else {
      server.listen(cfg.port, cfg.host, () => resolve());
    }
  });
  const addr = server.address();
  let url: string;
  if (typeof addr === 'string') url = `unix:${addr}`;
  else {
    const a = addr as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    url = `${cfg.tls ? 'https' : 'http'}://${host}:${a.port}`;
  }
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        // Clients in a loop (wait(), log following) must move to the next daemon instead of
        // keeping this one: idle connections close now, busy ones after their answer.
        for (const [sock, busy] of sockets) if (busy === 0) sock.end();
        const cut = setTimeout(() => {
          server.closeAllConnections();
          for (const sock of sockets.keys()) sock.destroy();
        }, DRAIN_MS);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        // Event streams end and long-polls answer now.
        app.close();
      }),
  };
}
