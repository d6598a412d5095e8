/**
 * The web dashboard's server: its own port, serving the page and its built assets under `/`
 * and handing every `/api/v1` request to the same API handler as the API port. The browser
 * thus talks to one origin: no CORS, and the page can do nothing the API does not already
 * allow with the signed-in user's token.
 *
 * The assets are built from web/ by `npm run build` (web/build.mjs) into dist/dashboard; no
 * file outside that folder is ever served, and nothing is fetched from elsewhere at run time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from './app.js';
import { API_PREFIX } from './router.js';

/**
 * No inline script or style, nothing from another origin, not framable. SVG drawing uses
 * attributes (fill, x, y), which style-src does not govern.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

/** dist/dashboard, whether this module runs compiled (dist/src/api) or from source (src/api). */
export function defaultAssetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../dashboard'), resolve(here, '../../dist/dashboard')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[1]!;
}

/** The files of the built dashboard, read once: a fixed set, so no request path reaches the disk. */
function loadAssets(dir: string): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir)) {
    const ext = /\.[a-z]+$/.exec(name)?.[0] ?? '';
    if (!TYPES[ext]) continue;
    files.set(`/${name}`, { body: readFileSync(join(dir, name)), type: TYPES[ext] });
  }
  return files;
}

export function dashboardHandler(app: App, assetsDir = defaultAssetsDir()): (req: IncomingMessage, res: ServerResponse) => void {
  const assets = loadAssets(assetsDir);
  return (req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === API_PREFIX || path.startsWith(`${API_PREFIX}/`)) return app.handle(req, res);
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
    const file = assets.get(path === '/' ? '/index.html' : path);
    if (file) return send(200, file.type, file.body);
    if (assets.size === 0) return send(503, 'text/plain; charset=utf-8', 'the dashboard is not built: run `npm run build`\n');
    send(404, 'text/plain; charset=utf-8', 'not found\n');
  };
}

export interface DashboardListening {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Listen on host:port; rejects (EADDRINUSE and the like) without leaving a server behind. */
export async function listenDashboard(app: App, cfg: { host: string; port: number }, assetsDir?: string): Promise<DashboardListening> {
  const server = createServer(dashboardHandler(app, assetsDir));
  // Live output and long-polls go through here too, as on the API port.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(cfg.port, cfg.host, () => ok());
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    server,
    url: `http://${host}:${a.port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeIdleConnections();
        server.closeAllConnections();
      }),
  };
}
