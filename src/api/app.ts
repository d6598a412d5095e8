/**
 * The daemon's HTTP API under /api/v1, on node:http.
 *
 * Why node:http and not a framework: most endpoints here are streams (artifact uploads of many
 * GB, ranged output downloads, log tails, server-sent events, long-polls), where a framework's
 * body parsing and serialisation would be bypassed anyway; validation is zod (shared with the
 * engine and rendered into the OpenAPI document), not a framework's JSON-schema compiler. The
 * router below is a table, which is also what the OpenAPI document is generated from.
 *
 * `buildApp` wires handlers to a Bridge and returns a request handler; `listen` (listen.ts)
 * binds it to TCP, TLS or a Unix socket. Tests call both with port 0.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { Bridge } from '../bridge.js';
import { TokenStore } from '../auth/tokens.js';
import type { ArtifactView, ClusterView, JobEventView, JobView, OutputsView, RenderView } from '../client/types.js';
import { BridgeError } from '../domain/errors.js';
import { fieldName, parseJobSpec, zodProblems } from '../domain/jobSpec.js';
import { WorkflowSpecSchema } from '../domain/workflowSpec.js';
import { publicStatus, type JobState } from '../domain/state.js';
import { jobDirFor } from '../engine/reconciler.js';
import { jobTag } from '../engine/tag.js';
import { redactTokenLike, silentLogger, type Logger } from '../logging.js';
import { Metrics } from '../ops/metrics.js';
import type { ArtifactInfo, StagingService } from '../staging/service.js';
import type { JobRecord } from '../store/store.js';
import { HttpError, toHttp } from './errors.js';
import { EventHub, type EventRow } from './hub.js';
import { buildOpenApi } from './openapi.js';
import {
  ArtifactName,
  EventsQuery,
  IdempotencyKey,
  IdParams,
  JobBody,
  ListJobsQuery,
  LogQuery,
  queryObject,
  Sha256Header,
  StreamQuery,
  WaitQuery,
} from './schemas.js';

export const API_PREFIX = '/api/v1';

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

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  query: Record<string, unknown>;
  user: string;
  /** Aborted when the client goes away before the answer is complete. */
  signal: AbortSignal;
}

export interface RouteDoc {
  method: Method;
  /** Relative to /api/v1; `{name}` is one segment, `{name*}` the rest of the path. */
  path: string;
  summary: string;
  auth: boolean;
  query?: z.ZodObject;
  body?: z.ZodType | 'binary';
  headers?: Record<string, { schema: z.ZodType; description: string }>;
  responses: Record<number, string>;
  /** Content type of the success answer when it is not JSON. */
  produces?: string;
}

interface Route extends RouteDoc {
  re: RegExp;
  names: string[];
  handler(ctx: Ctx): Promise<void> | void;
}

export interface App {
  handle(req: IncomingMessage, res: ServerResponse): void;
  routes: readonly RouteDoc[];
  openapi: Record<string, unknown>;
  hub: EventHub;
  /** End event streams and pending long-polls (they answer with the job's current state). */
  close(): void;
}

export function jobView(j: JobRecord): JobView {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: j.id,
    name: j.name,
    user: j.owner,
    cluster: j.cluster,
    status: j.status,
    phase: j.state,
    statusReason: j.statusReason,
    labels: j.labels,
    nativeId: j.nativeId,
    nativeState: j.nativeState,
    attempt: j.attempt,
    taskExitCodes: j.taskExitCodes,
    exitCode: j.exitCode,
    accounting: j.accounting,
    cancelRequested: j.cancelRequestedAt !== null,
    workflowId: j.workflowId,
    createdAt: new Date(j.createdAt).toISOString(),
    submittedAt: iso(j.submittedAt),
    startedAt: iso(j.startedAt),
    endedAt: iso(j.endedAt),
    updatedAt: new Date(j.updatedAt).toISOString(),
    definition: j.spec,
  };
}

function artifactView(a: ArtifactInfo): ArtifactView {
  return { name: a.name, size: a.size, sha256: a.sha256, createdAt: new Date(a.createdAt).toISOString() };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** Read a whole (small) body, refusing early when it is, or turns out to be, over `limit`. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError('TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${limit}`, undefined, { connection: 'close' });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError('TOO_LARGE', `request body exceeds the limit of ${limit} bytes`, undefined, { connection: 'close' });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const buf = await readBody(req, limit);
  if (buf.length === 0) throw new HttpError('INVALID_REQUEST', 'body: a JSON body is required', 'body');
  let text: string;
  try {
    // Bytes that are not UTF-8 would otherwise become U+FFFD silently: a file name or an
    // environment value would then differ from what the client sent.
    text = utf8.decode(buf);
  } catch {
    throw new HttpError('INVALID_REQUEST', 'body: is not valid UTF-8', 'body');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HttpError('INVALID_REQUEST', `body: is not valid JSON: ${(e as Error).message}`, 'body');
  }
  const bad = loneSurrogateAt(value);
  if (bad) throw new HttpError('INVALID_REQUEST', `${bad}: contains an unpaired UTF-16 surrogate (\\uD800-\\uDFFF escape), which no file name, label or environment can hold`, bad);
  return value;
}

/**
 * JSON escapes can spell half a surrogate pair (`"\\ud800"`), a string that has no UTF-8 form:
 * written to a file name or an environment it would turn into U+FFFD, not what was sent.
 * Returns the field path (tasks[0].env.X) of the first such string or key.
 */
function loneSurrogateAt(root: unknown): string | undefined {
  const lone = (s: string) => /\p{Surrogate}/u.test(s);
  interface Node {
    v: unknown;
    key?: string | number;
    up?: Node;
  }
  const pathOf = (n: Node, last?: string): string => {
    const segs: (string | number)[] = last === undefined ? [] : [last];
    for (let c: Node | undefined = n; c?.up; c = c.up) segs.unshift(c.key!);
    return fieldName(segs);
  };
  // Iterative, with parent links instead of copied paths: a body of deeply nested arrays must
  // neither exhaust the stack nor cost memory quadratic in its depth.
  const stack: Node[] = [{ v: root }];
  while (stack.length) {
    const n = stack.pop()!;
    const v = n.v;
    if (typeof v === 'string') {
      if (lone(v)) return pathOf(n);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], key: i, up: n });
    } else if (v && typeof v === 'object') {
      const entries = Object.entries(v);
      for (const [k] of entries) if (lone(k)) return pathOf(n, k);
      for (let i = entries.length - 1; i >= 0; i--) stack.push({ v: entries[i]![1], key: entries[i]![0], up: n });
    }
  }
  return undefined;
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const p = zodProblems(r.error)[0]!;
  const field = p.field === '(definition)' ? where : p.field;
  throw new HttpError('INVALID_REQUEST', `${field}: ${p.message}`, field);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * One `bytes=` range against a known size. Returns undefined for "no usable Range header"
 * (serve everything, as RFC 9110 allows for multi-range or unparsable ranges) and throws 416
 * for a range that cannot be satisfied.
 */
export function parseRange(h: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!h) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const unsatisfiable = () => new HttpError('RANGE_NOT_SATISFIABLE', `range ${h} is outside the ${size} bytes of this output`, undefined, { 'content-range': `bytes */${size}` });
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) throw unsatisfiable();
  return { start, end };
}

export function buildApp(bridge: Bridge, opts: AppOptions = {}): App {
  const log = opts.logger ?? silentLogger();
  const tokens = opts.tokens ?? new TokenStore(bridge.store.db);
  const maxJson = opts.maxJsonBytes ?? 16 << 20;
  const maxArtifact = opts.maxArtifactBytes ?? bridge.settings.daemon.limits.artifactBytes;
  const bodyIdleMs = opts.bodyIdleTimeoutMs ?? 60_000;
  const maxWaitMs = (opts.maxWaitSeconds ?? 300) * 1000;
  const maxLog = opts.maxLogBytes ?? 4 << 20;
  const keepaliveMs = opts.sseKeepaliveMs ?? 15_000;
  const metrics = opts.metrics ?? new Metrics();
  const streams = new Set<ServerResponse>();

  const staging = (): StagingService => opts.staging ?? bridge.staging;

  const ownedJob = (ctx: Ctx): JobRecord => {
    const { id } = parseWith(IdParams, { id: ctx.params.id }, 'id');
    const job = bridge.get(id, ctx.user);
    if (!job) throw new BridgeError('NOT_FOUND', `job ${id} not found`, { context: { jobId: id } });
    return job;
  };

  const ownedWorkflow = (ctx: Ctx) => {
    const { id } = parseWith(IdParams, { id: ctx.params.id }, 'id');
    const wf = bridge.getWorkflow(id, ctx.user);
    if (!wf) throw new BridgeError('NOT_FOUND', `workflow ${id} not found`, { context: { workflowId: id } });
    return wf;
  };

  const ownerEvents = bridge.store.db.prepare(
    `SELECT e.id, e.job_id, e.at, e.from_state, e.to_state, e.reason FROM job_events e JOIN jobs j ON j.id = e.job_id
     WHERE j.owner = ? AND e.id > ? ORDER BY e.id LIMIT ?`,
  );
  const maxEventId = bridge.store.db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM job_events');
  const hub = new EventHub(
    bridge.store,
    { ownerEvents: (owner, after, limit) => ownerEvents.all(owner, after, limit) as EventRow[], maxEventId: () => (maxEventId.get() as { id: number }).id },
    { perUser: opts.maxStreamsPerUser ?? 128, total: opts.maxStreams ?? 1024 },
  );
  const eventView = (e: { id: number; jobId: number; at: number; from: JobState | null; to: JobState; reason: string | null }): JobEventView => ({
    id: e.id,
    jobId: e.jobId,
    at: new Date(e.at).toISOString(),
    from: e.from,
    to: e.to,
    status: publicStatus(e.to),
    reason: e.reason,
  });

  const submit = (ctx: Ctx, definition: unknown): void => {
    const rawKey = header(ctx.req, 'idempotency-key');
    const key = rawKey === undefined ? undefined : parseWith(IdempotencyKey, rawKey, 'Idempotency-Key');
    const { job, created } = bridge.submit(ctx.user, definition, key ? { idempotencyKey: key } : {});
    if (!created && JSON.stringify(job.spec) !== JSON.stringify(parseJobSpec(definition))) {
      throw new HttpError('CONFLICT', `Idempotency-Key "${key}" was already used for job ${job.id} with a different definition`, 'Idempotency-Key');
    }
    if (created) hub.created(ctx.user);
    sendJson(ctx.res, created ? 201 : 200, { id: job.id }, { location: `${API_PREFIX}/jobs/${job.id}` });
  };

  const logRoute = (which: 'stdout' | 'stderr'): Omit<Route, 're' | 'names'> => ({
    method: 'GET',
    path: `/jobs/{id}/${which}`,
    summary: `A task's ${which} from a byte offset; X-Next-Offset says where to continue, X-Log-Complete whether the job has ended and this is the end`,
    auth: true,
    query: LogQuery,
    produces: 'text/plain',
    responses: { 200: `${which} bytes`, 404: 'unknown job' },
    handler: async (ctx) => {
      const job = ownedJob(ctx);
      const q = ctx.query as z.infer<typeof LogQuery>;
      const offset = q.offset ?? 0;
      const maxBytes = Math.min(q.maxBytes ?? maxLog, maxLog);
      const chunk = await staging().readLog(job.id, ctx.user, which, { ...(q.task !== undefined ? { task: q.task } : {}), offset, maxBytes });
      ctx.res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': chunk.data.length,
        'x-next-offset': String(chunk.nextOffset),
        'x-log-complete': String(chunk.complete),
        'cache-control': 'no-store',
      });
      ctx.res.end(chunk.data);
    },
  });

  const defs: Omit<Route, 're' | 'names'>[] = [
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
      handler: (ctx) => sendJson(ctx.res, 200, app.openapi),
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
    {
      method: 'POST',
      path: '/jobs',
      summary: 'Create a job; with Idempotency-Key a retried create answers with the same job (200 instead of 201)',
      auth: true,
      body: JobBody,
      headers: { 'Idempotency-Key': { schema: IdempotencyKey, description: 'makes a retried create return the same job' } },
      responses: { 201: '{id}', 200: '{id} of the job created earlier with this Idempotency-Key', 400: 'invalid definition (names the field)', 409: 'Idempotency-Key reused with another definition', 413: 'body too large' },
      handler: async (ctx) => submit(ctx, await readJson(ctx.req, maxJson)),
    },
    {
      method: 'POST',
      path: '/jobs/render',
      summary: 'Validate a definition and show the batch script it becomes, without creating a job',
      auth: true,
      body: JobBody,
      responses: { 200: '{cluster, scheduler, definition, script}', 400: 'invalid definition' },
      handler: async (ctx) => {
        const parsed = parseJobSpec(await readJson(ctx.req, maxJson));
        const cluster = parsed.cluster ?? bridge.settings.daemon.defaultCluster!;
        const rec = bridge.reconciler(cluster);
        if (!rec) throw new BridgeError('INVALID_DEFINITION', `invalid job definition: cluster: no cluster named "${cluster}" is configured`, { context: { field: 'cluster' } });
        // The script shown is the one a submission would get: the user's account included.
        const spec = bridge.applyUserPolicy(ctx.user, cluster, parsed, 'cluster', 'job');
        // The real job id is not known before creation; 0 stands in for it in paths and tag.
        const script = rec.rt.adapter.renderScript(spec, {
          jobDir: jobDirFor(rec.rt, bridge.store.instanceId(), 0),
          tag: jobTag(bridge.store.instanceId(), 0, 0),
          bridgeJobId: 0,
          attempt: 0,
          defaults: rec.rt.defaults,
          ...(spec.resources.walltime !== undefined ? { walltimeSeconds: spec.resources.walltime * 60 } : {}),
        });
        const out: RenderView = { cluster, scheduler: rec.rt.adapter.name, definition: spec, script };
        sendJson(ctx.res, 200, out);
      },
    },
    {
      method: 'GET',
      path: '/jobs',
      summary: "The caller's jobs, newest first: active ones by default",
      auth: true,
      query: ListJobsQuery,
      responses: { 200: '{jobs: Job[]}', 400: 'bad filter (names the parameter)' },
      handler: (ctx) => {
        const q = ctx.query as z.infer<typeof ListJobsQuery>;
        const labels: Record<string, string> = {};
        for (const l of q.label ?? []) {
          const i = l.indexOf('=');
          labels[l.slice(0, i)] = l.slice(i + 1);
        }
        const jobs = bridge.list({
          owner: ctx.user,
          scope: q.all ? 'all' : q.completed ? 'completed' : q.status ? 'all' : 'active',
          ...(q.status ? { status: q.status } : {}),
          ...(q.name !== undefined ? { name: q.name } : {}),
          ...(q.label ? { labels } : {}),
          ...(q.limit ? { limit: q.limit } : {}),
          ...(q.before ? { beforeId: q.before } : {}),
          ...(q.workflow ? { workflowId: q.workflow } : {}),
        });
        sendJson(ctx.res, 200, { jobs: jobs.map(jobView) });
      },
    },
    {
      method: 'GET',
      path: '/jobs/{id}',
      summary: 'Describe a job',
      auth: true,
      responses: { 200: 'Job', 404: "unknown job, or another user's" },
      handler: (ctx) => sendJson(ctx.res, 200, jobView(ownedJob(ctx))),
    },
    {
      method: 'DELETE',
      path: '/jobs/{id}',
      summary: 'Cancel a job; idempotent, and not an error for a job that already ended',
      auth: true,
      responses: { 200: 'Job (cancelRequested is true until the engine has carried it out)', 404: 'unknown job' },
      handler: (ctx) => {
        const job = ownedJob(ctx);
        sendJson(ctx.res, 200, jobView(bridge.cancel(job.id, ctx.user)));
      },
    },
    {
      method: 'POST',
      path: '/jobs/{id}/clone',
      summary: 'Create a new job from the definition of an existing one',
      auth: true,
      headers: { 'Idempotency-Key': { schema: IdempotencyKey, description: 'makes a retried clone return the same job' } },
      responses: { 201: '{id} of the new job', 404: 'unknown job' },
      handler: (ctx) => submit(ctx, ownedJob(ctx).spec),
    },
    {
      method: 'GET',
      path: '/jobs/{id}/events',
      summary: "A job's state changes, oldest first",
      auth: true,
      query: EventsQuery,
      responses: { 200: '{events: JobEvent[]}', 404: 'unknown job' },
      handler: (ctx) => {
        const job = ownedJob(ctx);
        const q = ctx.query as z.infer<typeof EventsQuery>;
        sendJson(ctx.res, 200, { events: bridge.store.events(job.id, q.after ?? 0, q.limit ?? 1000).map(eventView) });
      },
    },
    {
      method: 'GET',
      path: '/jobs/{id}/wait',
      summary: 'Answer as soon as the job is terminal, or after `timeout` seconds, with the job either way',
      auth: true,
      query: WaitQuery,
      responses: { 200: 'Job (check status: it may still be active after the timeout)', 404: 'unknown job' },
      handler: async (ctx) => {
        const job = ownedJob(ctx);
        const q = ctx.query as z.infer<typeof WaitQuery>;
        const ms = Math.min((q.timeout ?? 30) * 1000, maxWaitMs);
        const done = await hub.waitTerminal(job, ms, ctx.signal);
        if (!ctx.res.destroyed) sendJson(ctx.res, 200, jobView(done));
      },
    },
    // Workflows: a DAG of jobs with factories. Each instance is an ordinary job (its id is in
    // the workflow's `jobs`), so stdout, outputs, events and wait work per instance through the
    // job endpoints above and below.
    {
      method: 'POST',
      path: '/workflows',
      summary: 'Create a workflow (jobs, dependencies by exact name, factories, policies)',
      auth: true,
      body: WorkflowSpecSchema,
      headers: { 'Idempotency-Key': { schema: IdempotencyKey, description: 'makes a retried create return the same workflow' } },
      responses: { 201: 'Workflow', 200: 'the workflow created earlier with this Idempotency-Key', 400: 'invalid definition (names the field: unknown job, cycle, unequal zip, ...)', 409: 'Idempotency-Key reused with another definition', 413: 'body too large' },
      handler: async (ctx) => {
        const rawKey = header(ctx.req, 'idempotency-key');
        const key = rawKey === undefined ? undefined : parseWith(IdempotencyKey, rawKey, 'Idempotency-Key');
        const wf = bridge.submitWorkflow(ctx.user, await readJson(ctx.req, maxJson), key ? { idempotencyKey: key } : {});
        sendJson(ctx.res, wf.created === false ? 200 : 201, wf);
      },
    },
    {
      method: 'GET',
      path: '/workflows',
      summary: "The caller's workflows, newest first, with status and progress",
      auth: true,
      responses: { 200: '{workflows: Workflow[]}' },
      handler: (ctx) => sendJson(ctx.res, 200, { workflows: bridge.listWorkflows(ctx.user) }),
    },
    {
      method: 'GET',
      path: '/workflows/{id}',
      summary: 'Describe a workflow: status, progress and every instance (name, index, parameters, job id)',
      auth: true,
      responses: { 200: 'Workflow', 404: "unknown workflow, or another user's" },
      handler: (ctx) => sendJson(ctx.res, 200, ownedWorkflow(ctx)),
    },
    {
      method: 'GET',
      path: '/workflows/{id}/wait',
      summary: 'Answer as soon as every job of the workflow has ended, or after `timeout` seconds',
      auth: true,
      query: WaitQuery,
      responses: { 200: 'Workflow (check status)', 404: 'unknown workflow' },
      handler: async (ctx) => {
        const wf = ownedWorkflow(ctx);
        const q = ctx.query as z.infer<typeof WaitQuery>;
        const done = await bridge.waitWorkflow(wf.id, Math.min((q.timeout ?? 30) * 1000, maxWaitMs), ctx.user, ctx.signal);
        if (!ctx.res.destroyed) sendJson(ctx.res, 200, done);
      },
    },
    {
      method: 'DELETE',
      path: '/workflows/{id}',
      summary: 'Cancel every job of the workflow; idempotent',
      auth: true,
      responses: { 200: 'Workflow', 404: 'unknown workflow' },
      handler: (ctx) => sendJson(ctx.res, 200, bridge.deleteWorkflow(ownedWorkflow(ctx).id, ctx.user)),
    },
    {
      method: 'POST',
      path: '/workflows/{id}/rerun',
      summary: 'Run again the jobs that did not complete and all their descendants',
      auth: true,
      responses: { 200: 'Workflow', 404: 'unknown workflow', 409: 'the workflow still has active jobs' },
      handler: (ctx) => sendJson(ctx.res, 200, bridge.rerunWorkflow(ownedWorkflow(ctx).id, ctx.user)),
    },
    logRoute('stdout'),
    logRoute('stderr'),
    {
      method: 'GET',
      path: '/jobs/{id}/outputs',
      summary: "A job's collected outputs with size and SHA-256, and what could not be collected",
      auth: true,
      responses: { 200: '{outputs, problems}', 404: 'unknown job' },
      handler: (ctx) => {
        const job = ownedJob(ctx);
        const report = staging().listOutputs(job.id, ctx.user);
        const out: OutputsView = { outputs: report.outputs, problems: report.problems };
        sendJson(ctx.res, 200, out);
      },
    },
    {
      method: 'GET',
      path: '/jobs/{id}/outputs/{name*}',
      summary: 'The bytes of one output; Range: bytes=a-b supported (206)',
      auth: true,
      headers: { Range: { schema: z.string(), description: 'one bytes=start-end range' } },
      produces: 'application/octet-stream',
      responses: { 200: 'the whole output', 206: 'the requested range', 404: 'unknown job or output', 416: 'range outside the output' },
      handler: async (ctx) => {
        const job = ownedJob(ctx);
        const s = staging();
        const name = ctx.params.name!;
        const info = s.listOutputs(job.id, ctx.user).outputs.find((o) => o.name === name);
        if (!info) throw new BridgeError('NOT_FOUND', `job ${job.id} has no output named "${name}"`, { context: { jobId: job.id, field: 'name' } });
        const range = parseRange(header(ctx.req, 'range'), info.size);
        const opened = await s.openOutput(job.id, ctx.user, name, range);
        const headers: Record<string, string | number> = {
          'content-type': 'application/octet-stream',
          'accept-ranges': 'bytes',
          etag: `"${opened.sha256}"`,
          'x-checksum-sha256': opened.sha256,
          'content-disposition': `attachment; filename="${posix.basename(name).replace(/[^A-Za-z0-9_.+-]/g, '_')}"`,
        };
        if (range) {
          headers['content-range'] = `bytes ${range.start}-${range.end}/${opened.size}`;
          headers['content-length'] = range.end - range.start + 1;
        } else {
          headers['content-length'] = opened.size;
        }
        ctx.res.writeHead(range ? 206 : 200, headers);
        await pipeline(opened.stream, ctx.res);
      },
    },
    {
      method: 'GET',
      path: '/events',
      summary: "Server-sent events: every state change of the caller's jobs; resumable with Last-Event-ID",
      auth: true,
      query: StreamQuery,
      headers: { 'Last-Event-ID': { schema: z.string().regex(/^\d+$/), description: 'resume after this event id' } },
      produces: 'text/event-stream',
      responses: { 200: 'an endless text/event-stream; it opens with an id-only block naming the cursor, then each event is `event: job`, `id: <event id>`, `data: JobEvent`', 429: 'too many open streams: TOO_MANY_STREAMS_PER_USER or TOO_MANY_STREAMS (the message names the limit)' },
      handler: (ctx) => {
        const q = ctx.query as z.infer<typeof StreamQuery>;
        const lastHeader = header(ctx.req, 'last-event-id');
        const last = lastHeader !== undefined ? parseWith(z.coerce.number().int().min(0), lastHeader, 'Last-Event-ID') : q.lastEventId;
        // Without a resume point the stream starts at "now": history is at /jobs/{id}/events.
        const res = ctx.res;
        const send = (rows: EventRow[]): boolean => {
          let ok = true;
          for (const r of rows) {
            sub.cursor = r.id;
            const ev = eventView({ id: r.id, jobId: r.job_id, at: r.at, from: r.from_state as JobState | null, to: r.to_state as JobState, reason: r.reason });
            ok = res.write(`id: ${r.id}\nevent: job\ndata: ${JSON.stringify(ev)}\n\n`) && ok;
          }
          // A slow reader: the hub skips it until 'drain', then it catches up from its cursor.
          if (!ok) res.once('drain', () => handle.resume());
          return ok;
        };
        const sub = { owner: ctx.user, cursor: last ?? (maxEventId.get() as { id: number }).id, deliver: (rows: EventRow[]) => !res.destroyed && send(rows) };
        const cursor0 = sub.cursor;
        // Refused over the cap before anything is written, so the 429 is an ordinary answer.
        const handle = hub.subscribe(sub);
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' });
        // The cursor first, in an id-only block: a client reconnecting before any event resumes from here.
        res.write(`retry: 2000\nid: ${cursor0}\n\n`);
        handle.resume();
        const keepalive = setInterval(() => res.write(': keepalive\n\n'), keepaliveMs);
        keepalive.unref();
        streams.add(res);
        res.on('close', () => {
          clearInterval(keepalive);
          handle.unsubscribe();
          streams.delete(res);
        });
      },
    },
    {
      method: 'PUT',
      path: '/artifacts/{name}',
      summary: 'Upload an artifact (streamed; X-Checksum-SHA256 is verified when given)',
      auth: true,
      body: 'binary',
      headers: { 'X-Checksum-SHA256': { schema: Sha256Header, description: 'expected SHA-256 of the body; a mismatch stores nothing' } },
      responses: { 201: 'Artifact', 400: 'bad name or checksum', 413: 'too large' },
      handler: async (ctx) => {
        const name = parseWith(ArtifactName, ctx.params.name, 'name');
        const sumHeader = header(ctx.req, 'x-checksum-sha256');
        const sum = sumHeader === undefined ? undefined : parseWith(Sha256Header, sumHeader, 'X-Checksum-SHA256').toLowerCase();
        const declared = Number(header(ctx.req, 'content-length') ?? NaN);
        if (Number.isFinite(declared) && declared > maxArtifact) throw new HttpError('TOO_LARGE', `artifact of ${declared} bytes exceeds the limit of ${maxArtifact}`, undefined, { connection: 'close' });
        const info = await staging().putArtifact(ctx.user, name, ctx.req as Readable, { ...(sum ? { expectedSha256: sum } : {}), maxBytes: maxArtifact });
        sendJson(ctx.res, 201, artifactView(info), { location: `${API_PREFIX}/artifacts/${encodeURIComponent(name)}` });
      },
    },
    {
      method: 'GET',
      path: '/artifacts',
      summary: "The caller's artifacts",
      auth: true,
      responses: { 200: '{artifacts: Artifact[]}' },
      handler: (ctx) => sendJson(ctx.res, 200, { artifacts: staging().listArtifacts(ctx.user).map(artifactView) }),
    },
    {
      method: 'GET',
      path: '/artifacts/{name}',
      summary: 'Describe one artifact',
      auth: true,
      responses: { 200: 'Artifact', 404: 'unknown artifact' },
      handler: (ctx) => {
        const name = parseWith(ArtifactName, ctx.params.name, 'name');
        const a = staging().getArtifact(ctx.user, name);
        if (!a) throw new BridgeError('NOT_FOUND', `artifact "${name}" not found`, { context: { field: 'name' } });
        sendJson(ctx.res, 200, artifactView(a));
      },
    },
    {
      method: 'DELETE',
      path: '/artifacts/{name}',
      summary: 'Delete an artifact (jobs already staged keep their copy)',
      auth: true,
      responses: { 204: 'deleted', 404: 'unknown artifact' },
      handler: (ctx) => {
        const name = parseWith(ArtifactName, ctx.params.name, 'name');
        if (!staging().deleteArtifact(ctx.user, name)) throw new BridgeError('NOT_FOUND', `artifact "${name}" not found`, { context: { field: 'name' } });
        ctx.res.writeHead(204).end();
      },
    },
    // ---- operations (src/ops/metrics.ts) ----
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
  ];

  const routes: Route[] = defs.map((d) => {
    const names: string[] = [];
    const pattern = d.path.replace(/\{(\w+)(\*?)\}/g, (_m, n: string, star: string) => {
      names.push(n);
      return star ? '(.+)' : '([^/]+)';
    });
    return { ...d, names, re: new RegExp(`^${pattern}$`) };
  });

  const authenticate = (req: IncomingMessage): string => {
    const h = header(req, 'authorization');
    const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
    const user = m ? tokens.verify(m[1]!) : undefined;
    if (!user) {
      throw new HttpError('UNAUTHORIZED', h ? 'the bearer token is not valid' : 'an Authorization: Bearer token is required', undefined, {
        'www-authenticate': 'Bearer realm="hpc-bridge"',
      });
    }
    return user;
  };

  const dispatch = async (req: IncomingMessage, res: ServerResponse, url: URL, state: { user?: string; route?: string }, signal: AbortSignal): Promise<void> => {
    if (!url.pathname.startsWith(`${API_PREFIX}/`)) throw new BridgeError('NOT_FOUND', `no such endpoint: ${url.pathname}`);
    const rel = url.pathname.slice(API_PREFIX.length);
    let pathMatched = false;
    for (const r of routes) {
      const m = r.re.exec(rel);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== req.method) continue;
      state.route = r.path;
      // The token first: without one, nothing about the request is looked at (not even its parameters).
      if (r.auth) state.user = authenticate(req);
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => {
        try {
          params[n] = decodeURIComponent(m[i + 1]!);
        } catch {
          throw new HttpError('INVALID_REQUEST', `${n}: is not valid percent-encoding`, n);
        }
      });
      const query = r.query ? parseWith(r.query, queryObject(url.searchParams, r.query), 'query') : {};
      await r.handler({ req, res, url, params, query, user: state.user ?? '', signal });
      return;
    }
    if (pathMatched) {
      const allowed = routes.filter((r) => r.re.test(rel)).map((r) => r.method);
      throw new HttpError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`, undefined, { allow: [...new Set(allowed)].join(', ') });
    }
    throw new BridgeError('NOT_FOUND', `no such endpoint: ${url.pathname}`);
  };

  const app: App = {
    routes: defs,
    openapi: {},
    hub,
    handle(req, res) {
      const started = process.hrtime.bigint();
      const reqId = randomUUID();
      const url = new URL(req.url ?? '/', 'http://localhost');
      const state: { user?: string; route?: string } = {};
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
      dispatch(req, res, url, state, ac.signal).catch((e: unknown) => {
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
  app.openapi = buildOpenApi(defs);
  return app;
}
