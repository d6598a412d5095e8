/**
 * Bind an App to the address in settings: TCP on 127.0.0.1 by default, TLS when a certificate
 * and key are configured, or a Unix socket (for `ssh -L localport:/path/to.sock login-node`,
 * which keeps the daemon off the network entirely; tokens are still required on it).
 */
import { existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { DaemonConfig } from '../settings/schema.js';
import type { App } from './app.js';

export interface Listening {
  server: Server;
  /** Base URL for clients (http(s)://host:port, or unix:<path>). */
  url: string;
  /** Stop accepting, end event streams and long-polls, then wait for connections to finish. */
  close(): Promise<void>;
}

export async function listen(app: App, cfg: DaemonConfig['listen']): Promise<Listening> {
  const handler = app.handle.bind(app);
  const server: Server = cfg.tls
    ? (createHttps({ cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key) }, handler) as unknown as Server)
    : createHttp(handler);
  // Long-polls last up to maxWaitSeconds; the default 5 s keep-alive and 300 s request timeouts
  // must not cut them or idle event streams.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
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
        server.close(() => resolve());
        app.close();
        server.closeIdleConnections();
      }),
  };
}
