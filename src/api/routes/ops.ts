/**
 * Operations: liveness and cluster reachability, the OpenAPI document, the configured clusters,
 * and Prometheus metrics (src/ops/metrics.ts).
 */
import type { ClusterView } from '../../client/types.js';
import type { ApiContext } from '../context.js';
import { sendJson } from '../http.js';
import type { Router } from '../router.js';

/** `document` is the OpenAPI document of the finished route table. */
export function registerOpsRoutes(r: Router, api: ApiContext, document: () => Record<string, unknown>): void {
  const { bridge } = api;
  r.add(
    {
      method: 'GET',
      path: '/healthz',
      summary: 'Liveness, and which clusters are reachable (no token needed)',
      auth: false,
      responses: { 200: 'the daemon is serving' },
      handler: (ctx) => {
        const health = bridge.health();
        // `reachable` is null until the cluster's first poll; lastError says why it is not.
        const clusters = health.map((h) => ({
          name: h.cluster,
          state: h.state,
          reachable: h.state === 'unknown' ? null : h.state === 'ok',
          lastOkAt: h.lastOkAt ? new Date(h.lastOkAt).toISOString() : null,
          lastError: h.lastError,
        }));
        sendJson(ctx.res, 200, { status: health.every((h) => h.state !== 'degraded') ? 'ok' : 'degraded', clusters });
      },
    },
    {
      method: 'GET',
      path: '/openapi.json',
      summary: 'This document',
      auth: false,
      responses: { 200: 'OpenAPI 3.1 document' },
      handler: (ctx) => sendJson(ctx.res, 200, document()),
    },
    {
      method: 'GET',
      path: '/clusters',
      summary: 'Configured clusters, their scheduler, and whether the last poll reached them',
      auth: true,
      responses: { 200: '{clusters: Cluster[]}' },
      handler: (ctx) => {
        const health = new Map(bridge.health().map((h) => [h.cluster, h]));
        const clusters: ClusterView[] = bridge.settings.clusters.map((c) => {
          const h = health.get(c.name);
          const state = h?.state ?? 'unknown';
          return {
            name: c.name,
            scheduler: c.scheduler,
            reachable: state === 'unknown' ? null : state === 'ok',
            state,
            lastOkAt: h?.lastOkAt ? new Date(h.lastOkAt).toISOString() : null,
            lastError: h?.lastError ?? null,
          };
        });
        sendJson(ctx.res, 200, { clusters, defaultCluster: bridge.settings.daemon.defaultCluster ?? null });
      },
    },
  );
}

/** Added last, as before the split, so the route table (and the OpenAPI document) keeps its order. */
export function registerMetricsRoute(r: Router, api: ApiContext): void {
  const { bridge, metrics } = api;
  r.add(
    {
      method: 'GET',
      path: '/metrics',
      // Like /healthz, no token: a scraper is not a user. It shows counts per cluster and route,
      // never a job's owner, name or definition.
      summary: 'Prometheus metrics (text exposition format 0.0.4; no token needed)',
      auth: false,
      produces: 'text/plain; version=0.0.4',
      responses: { 200: 'Prometheus text format' },
      handler: (ctx) => {
        const text = metrics.render(bridge);
        ctx.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
        ctx.res.end(text);
      },
    },
  );
}
