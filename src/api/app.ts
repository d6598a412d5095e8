/**
 * The daemon's HTTP API under /api/v1, on node:http.
 *
 * Why node:http and not a framework: most endpoints here are streams (artifact uploads of many
 * GB, ranged output downloads, log tails, server-sent events, long-polls), where a framework's
 * body parsing and serialisation would be bypassed anyway; validation is zod (shared with the
 * engine and rendered into the OpenAPI document), not a framework's JSON-schema compiler.
 *
 * `buildApp` decides the limits, makes the route table (router.ts) from the route modules in
 * routes/, and returns a request handler without listening; `listen` (listen.ts) binds it to
 * TCP, TLS or a Unix socket. Failures become answers through the one table in errors.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Bridge } from '../bridge.js';
import { isJobToken } from '../auth/jobTokens.js';
import { TokenStore } from '../auth/tokens.js';
import { BridgeError } from '../domain/errors.js';
import { redactTokenLike, silentLogger, type Logger } from '../logging.js';
import { Metrics } from '../ops/metrics.js';
import type { StagingService } from '../staging/service.js';
import type { ApiContext } from './context.js';
import { HttpError, toHttp } from './errors.js';
import { header, sendJson } from './http.js';
import { EventHub } from './hub.js';
import { buildOpenApi } from './openapi.js';
import { Router, type RequestState, type RouteDoc } from './router.js';
import { registerArtifactRoutes } from './routes/artifacts.js';
import { registerEventRoutes } from './routes/events.js';
import { registerJobFileRoutes } from './routes/files.js';
import { registerInJobRoutes } from './routes/inJob.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerKvRoutes } from './routes/kv.js';
import { registerMetricsRoute, registerOpsRoutes } from './routes/ops.js';
import { registerWorkflowRoutes } from './routes/workflows.js';

export { API_PREFIX, type Ctx, type RouteDoc } from './router.js';
export { parseRange } from './http.js';
export { jobView } from './views.js';

export interface AppOptions {
  logger?: Logger;
  /** Token verification; defaults to the tokens table in the bridge's database. */
  tokens?: Pick<TokenStore, 'verify'>;
  /** Artifacts, outputs and logs; defaults to `bridge.staging` once that exists. */
  staging?: StagingService;
  /** Largest JSON request body (job definitions inline their small input files). */
  maxJsonBytes?: number;
  /** Largest artifact upload. */
  maxArtifactBytes?: number;
  /** Longest single long-poll on /wait; clients loop for longer waits. */
  maxWaitSeconds?: number;
  /** Comment lines keep idle event streams alive through proxies. */
  sseKeepaliveMs?: number;
  /** Largest log chunk per request. */
  maxLogBytes?: number;
  /**
   * A request body (JSON or an artifact upload) that sends nothing for this long is abandoned:
   * the connection is closed and a partial upload's temporary file removed, so a client that
   * stalls or vanishes mid-upload does not hold a socket, memory or disk forever. Bodiless
   * requests (long-polls, event streams) are not affected.
   */
  bodyIdleTimeoutMs?: number;
  /** Open event streams one user may hold (default 128); one more is answered 429 TOO_MANY_STREAMS_PER_USER. */
  maxStreamsPerUser?: number;
  /** Open event streams of the whole daemon (default 1024); one more is answered 429 TOO_MANY_STREAMS. */
  maxStreams?: number;
  /** Prometheus metrics served at /metrics (src/ops/metrics.ts); one is made when not given. */
  metrics?: Metrics;
}

export interface App {
  handle(req: IncomingMessage, res: ServerResponse): void;
  routes: readonly RouteDoc[];
  openapi: Record<string, unknown>;
  hub: EventHub;
  /** End event streams and pending long-polls (they answer with the job's current state). */
  close(): void;
}

export function buildApp(bridge: Bridge, opts: AppOptions = {}): App {
  const log = opts.logger ?? silentLogger();
  const tokens = opts.tokens ?? new TokenStore(bridge.store.tokens);
  const bodyIdleMs = opts.bodyIdleTimeoutMs ?? 60_000;
  const hub = new EventHub(
    bridge.store,
    { ownerEvents: (owner, after, limit) => bridge.store.ownerEventsAfter(owner, after, limit), maxEventId: () => bridge.store.lastEventId() },
    { perUser: opts.maxStreamsPerUser ?? 128, total: opts.maxStreams ?? 1024 },
  );
  const metrics = opts.metrics ?? new Metrics();
  const streams = new Set<ServerResponse>();
  const api: ApiContext = {
    bridge,
    hub,
    metrics,
    streams,
    staging: () => opts.staging ?? bridge.staging,
    limits: {
      maxJson: opts.maxJsonBytes ?? 16 << 20,
      maxArtifact: opts.maxArtifactBytes ?? bridge.settings.daemon.limits.artifactBytes,
      maxWaitMs: (opts.maxWaitSeconds ?? 300) * 1000,
      maxLog: opts.maxLogBytes ?? 4 << 20,
      keepaliveMs: opts.sseKeepaliveMs ?? 15_000,
    },
  };

  const authenticate = (req: IncomingMessage, route: RouteDoc): string => {
    const h = header(req, 'authorization');
    const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
    const presented = m?.[1];
    if (presented !== undefined && isJobToken(presented)) {
      // A job's credential opens its owner's key-value routes and nothing else.
      if (!route.jobCredential) throw new HttpError('UNAUTHORIZED', "a job's key-value credential is accepted only by the /kv routes", undefined, { 'www-authenticate': 'Bearer realm="hpc-bridge"' });
      const cred = bridge.jobTokens.verify(presented);
      if (!cred) throw new HttpError('UNAUTHORIZED', "the job's key-value credential is not valid (unknown, expired, or its job has ended)", undefined, { 'www-authenticate': 'Bearer realm="hpc-bridge"' });
      return cred.user;
    }
    const user = presented !== undefined ? tokens.verify(presented) : undefined;
    if (!user) {
      throw new HttpError('UNAUTHORIZED', h ? 'the bearer token is not valid' : 'an Authorization: Bearer token is required', undefined, {
        'www-authenticate': 'Bearer realm="hpc-bridge"',
      });
    }
    return user;
  };

  const router = new Router(authenticate);
  registerOpsRoutes(router, api, () => app.openapi);
  registerJobRoutes(router, api);
  registerWorkflowRoutes(router, api);
  registerJobFileRoutes(router, api);
  registerInJobRoutes(router, api);
  registerEventRoutes(router, api);
  registerArtifactRoutes(router, api);
  registerKvRoutes(router, api);
  registerMetricsRoute(router, api);

  const app: App = {
    routes: router.docs,
    openapi: {},
    hub,
    handle(req, res) {
      const started = process.hrtime.bigint();
      const reqId = randomUUID();
      const url = new URL(req.url ?? '/', 'http://localhost');
      const state: RequestState = {};
      const ac = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) ac.abort();
      });
      res.setHeader('x-request-id', reqId);
      if (!req.complete && (req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined)) {
        // Only while a body is arriving; the same (keep-alive) socket may carry a long-poll next.
        req.setTimeout(bodyIdleMs, () => req.destroy(new Error(`no request body bytes for ${bodyIdleMs} ms`)));
        req.once('end', () => req.socket.setTimeout(0));
      }
      res.on('finish', () => {
        // Method, path, status and user only: never headers (Authorization) or bodies.
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log.info({ reqId, method: req.method, path: redactTokenLike(url.pathname), status: res.statusCode, user: state.user, ms }, 'request');
        metrics.observeRequest(req.method ?? 'OTHER', state.route ?? '(unmatched)', res.statusCode, ms / 1000);
      });
      router.dispatch(req, res, url, state, ac.signal).catch((e: unknown) => {
        const { status, body, headers } = toHttp(e);
        if (status >= 500) log.error({ reqId, err: e instanceof BridgeError ? e.toJSON() : String(e) }, 'request failed');
        if (res.headersSent) {
          res.destroy(); // mid-stream failure: a truncated body must not look complete
          return;
        }
        sendJson(res, status, body, headers);
        // An early refusal leaves an unread body behind; do not wait for it.
        if (headers.connection === 'close' && !req.complete) req.resume();
      });
    },
    close() {
      for (const s of streams) s.end();
      streams.clear();
      hub.close();
    },
  };
  app.openapi = buildOpenApi(router.docs);
  return app;
}
