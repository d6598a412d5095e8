/**
 * A real daemon for API tests: a Bridge on the `direct` adapter (jobs run as local processes),
 * the HTTP app listening on 127.0.0.1:0, and two users with their own tokens.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildApp, type App, type AppOptions } from '../../src/api/app.js';
import { listen, type Listening } from '../../src/api/listen.js';
import { TokenStore } from '../../src/auth/tokens.js';
import { Bridge } from '../../src/bridge.js';
import { Client } from '../../src/client/index.js';
import { createLogger } from '../../src/logging.js';
import { buildSettings } from '../../src/settings/load.js';
import type { Settings } from '../../src/settings/schema.js';

export interface Daemon {
  bridge: Bridge;
  app: App;
  server: Listening;
  url: string;
  dataDir: string;
  tokens: { alice: string; bob: string };
  alice: Client;
  bob: Client;
  /** Every log line the daemon wrote. */
  logs: string[];
  close(): Promise<void>;
}

/** A logger at info whose lines are kept in `logs`, for tests that read what was logged. */
export function capturingLogger(): { logger: ReturnType<typeof createLogger>; logs: string[] } {
  const logs: string[] = [];
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _e, cb) {
        logs.push(chunk.toString());
        cb();
      },
    }),
  });
  return { logger, logs };
}

export async function startDaemon(opts: { start?: boolean; pollIntervalSeconds?: number; safetyPollSeconds?: number; app?: AppOptions; settings?: Settings } = {}): Promise<Daemon> {
  const dataDir = opts.settings?.daemon.dataDir ?? mkdtempSync(join(tmpdir(), 'hpcb-api-'));
  const settings = opts.settings ?? buildSettings({ dataDir, logLevel: 'info' }, [
    { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: opts.pollIntervalSeconds ?? 0.2, ...(opts.safetyPollSeconds !== undefined ? { safetyPollSeconds: opts.safetyPollSeconds } : {}), lostGraceSeconds: 5 } },
  ]);
  const { logger, logs } = capturingLogger();
  const bridge = Bridge.open(settings, { logger });
  if (opts.start !== false) bridge.start();
  const tokens = new TokenStore(bridge.store.tokens);
  const alice = tokens.create('alice').token;
  const bob = tokens.create('bob').token;
  const app = buildApp(bridge, { logger, ...(opts.app ?? {}) });
  const server = await listen(app, { host: '127.0.0.1', port: 0 });
  return {
    bridge,
    app,
    server,
    url: server.url,
    dataDir,
    tokens: { alice, bob },
    alice: new Client({ url: server.url, token: alice }),
    bob: new Client({ url: server.url, token: bob }),
    logs,
    close: async () => {
      await server.close();
      await bridge.close();
    },
  };
}

/** A raw HTTP call (for statuses and headers the SDK hides). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- `json` is whatever the route answered; each test reads the fields it asserts
export async function call(d: Daemon, method: string, path: string, init: { token?: string | null; body?: unknown; headers?: Record<string, string>; raw?: RequestInit['body'] } = {}): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  const token = init.token === undefined ? d.tokens.alice : init.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: RequestInit['body'] | undefined = init.raw;
  if (init.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  }
  const res = await fetch(`${d.url}/api/v1${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}
