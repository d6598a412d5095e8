/**
 * The low-level client: one method per endpoint, built on Node's global fetch. No runtime
 * dependencies and nothing outside src/client is imported at run time, so this folder packs
 * into a package that installs without native builds (see src/client/pack-client.mjs).
 *
 * Every failure is thrown as an `HpcBridgeError` with the daemon's code, message and field;
 * no method returns `false` or an empty value to signal an error.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type {
  ArtifactView,
  ClusterView,
  ErrorBody,
  ExecView,
  JobDefinition,
  JobEventView,
  JobCountsView,
  JobSummaryView,
  JobView,
  ListJobsFilter,
  OutputsView,
  RenderView,
} from './types.js';
import { TERMINAL_STATUSES } from './types.js';
import { HpcBridgeError } from './errors.js';
import { KeyValueStore } from './kv.js';
import { Backoff, retryDefaults, type RetryOptions } from './retry.js';

export const DEFAULT_URL = 'http://127.0.0.1:8742';

export { HpcBridgeError };

export interface ClientOptions extends RetryOptions {
  /** Daemon URL; default $HPC_BRIDGE_URL, then http://127.0.0.1:8742. */
  url?: string;
  /** Bearer token; default $HPC_BRIDGE_TOKEN. */
  token?: string;
}

export type Progress = (done: number, total: number | undefined) => void;

export interface LogChunk {
  data: Buffer;
  text: string;
  nextOffset: number;
  /** The job has ended and this chunk reached the end of the log. */
  complete: boolean;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  json?: unknown;
  /** A stream body is sent once; pass a function making a fresh one to let the request be retried. */
  body?: ReadableStream | Buffer | (() => ReadableStream);
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** false: one attempt only, whatever the method. */
  retry?: boolean;
  /** Stop retrying at this time (ms since the epoch), e.g. a wait()'s own timeout. */
  deadline?: number;
}

/** POSTs that create something: each call gets its own Idempotency-Key, so a retry never makes a second one. */
const CREATES = /^\/(?:jobs|jobs\/\d+\/clone|workflows)$/;
/** POSTs that change nothing, safe to repeat. */
const PURE_POSTS = /^\/jobs\/render$/;

function countingStream(total: number | undefined, onProgress: Progress | undefined): Transform {
  let done = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      onProgress?.(done, total);
      cb(null, chunk);
    },
  });
}

export class Client {
  readonly url: string;
  private readonly token: string | undefined;
  /** The retry policy of this client (see retry.ts); `retryFor: 0` turns retries off. */
  readonly retry: Required<RetryOptions>;

  constructor(opts: ClientOptions = {}) {
    this.url = (opts.url ?? process.env.HPC_BRIDGE_URL ?? DEFAULT_URL).replace(/\/+$/, '');
    this.token = opts.token ?? process.env.HPC_BRIDGE_TOKEN;
    this.retry = retryDefaults(opts);
  }

  /**
   * Send a request; throws HpcBridgeError for any non-2xx answer. Requests that are safe to
   * repeat (GET, DELETE, PUT, and POSTs carrying an Idempotency-Key) are retried through
   * transient failures for `retryFor` seconds; the answer's body is the caller's to read.
   */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const o = this.withKey(method, path, opts);
    return this.attempts(method, path, o, () => this.send(method, path, o));
  }

  /** A request whose JSON answer is read inside the retried attempt (a cut-off body is retried too). */
  async call<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const o = this.withKey(method, path, opts);
    return this.attempts(method, path, o, async () => {
      const res = await this.send(method, path, o);
      return (await readBody(res, (r) => r.json(), this.url)) as T;
    });
  }

  private withKey(method: string, path: string, opts: RequestOptions): RequestOptions {
    if (method !== 'POST' || !CREATES.test(path)) return opts;
    const headers = { ...(opts.headers ?? {}) };
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'idempotency-key')) headers['idempotency-key'] = randomUUID();
    return { ...opts, headers };
  }

  private retryable(method: string, path: string, opts: RequestOptions): boolean {
    if (opts.retry === false || opts.body instanceof ReadableStream) return false;
    if (method === 'POST') return PURE_POSTS.test(path) || Object.keys(opts.headers ?? {}).some((k) => k.toLowerCase() === 'idempotency-key');
    return true;
  }

  private async attempts<T>(method: string, path: string, opts: RequestOptions, once: () => Promise<T>): Promise<T> {
    if (!this.retryable(method, path, opts)) return once();
    const backoff = new Backoff(this.retry, `${method} ${path}`, opts.deadline);
    for (;;) {
      try {
        return await once();
      } catch (e) {
        await backoff.failed(e, opts.signal);
      }
    }
  }

  /** One attempt. */
  private async send(method: string, path: string, opts: RequestOptions): Promise<Response> {
    const u = new URL(`${this.url}/api/v1${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) u.searchParams.append(k, x);
      else u.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | Buffer | ReadableStream | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      body = typeof opts.body === 'function' ? opts.body() : opts.body;
    }
    let res: Response;
    try {
      res = await fetch(u, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      } as RequestInit);
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw unreachable(this.url, e);
    }
    if (res.ok) return res;
    const text = await readBody(res, (r) => r.text(), this.url);
    let parsed: ErrorBody | undefined;
    try {
      parsed = JSON.parse(text) as ErrorBody;
    } catch {
      parsed = undefined;
    }
    const err = parsed?.error;
    if (err && typeof err.code === 'string') throw new HpcBridgeError(err.code, err.message, res.status, err.field, err.problems);
    throw new HpcBridgeError('BAD_RESPONSE', `HTTP ${res.status} from ${u.pathname}: ${text.slice(0, 200)}`, res.status);
  }

  private json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return this.call<T>(method, path, opts);
  }

  /**
   * Create a job. An Idempotency-Key is generated for the call when none is given, so the
   * retries after a lost answer return the job created the first time instead of a second one.
   */
  /** The new job as the daemon shows it (an older daemon answers `{id}` alone). */
  createJob(definition: JobDefinition, opts: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<JobView | { id: number }> {
    return this.json('POST', '/jobs', { json: definition, ...keyed(opts) });
  }

  renderJob(definition: JobDefinition): Promise<RenderView> {
    return this.json('POST', '/jobs/render', { json: definition });
  }

  /** Summaries (no definition: getJob has it), newest first. */
  async listJobs(filter: ListJobsFilter = {}): Promise<JobSummaryView[]> {
    const labels = Object.entries(filter.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    const r = await this.json<{ jobs: JobSummaryView[] }>('GET', '/jobs', {
      query: { completed: filter.completed, all: filter.all, status: filter.status, name: filter.name, label: labels.length ? labels : undefined, limit: filter.limit, workflow: filter.workflowId, cluster: filter.cluster, before: filter.before },
    });
    return r.jobs;
  }

  jobCounts(): Promise<JobCountsView> {
    return this.json('GET', '/jobs/counts');
  }

  getJob(id: number): Promise<JobView> {
    return this.json('GET', `/jobs/${id}`);
  }

  deleteJob(id: number): Promise<JobView> {
    return this.json('DELETE', `/jobs/${id}`);
  }

  /** A new job from job `id`'s definition; keyed like createJob. */
  cloneJob(id: number, opts: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<JobView | { id: number }> {
    return this.json('POST', `/jobs/${id}/clone`, keyed(opts));
  }

  /** Create a workflow from its JSON document; keyed like createJob. */
  createWorkflow<T = unknown>(document: unknown, opts: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.json('POST', '/workflows', { json: document, ...keyed(opts) });
  }

  async jobEvents(id: number, after = 0): Promise<JobEventView[]> {
    return (await this.json<{ events: JobEventView[] }>('GET', `/jobs/${id}/events`, { query: { after } })).events;
  }

  /**
   * Wait until the job is terminal, by long-polling the daemon (each request is answered the
   * moment the daemon records the terminal state). `timeoutSeconds` undefined waits forever;
   * otherwise the job is returned as it is when the time is up (check `status`). A daemon
   * restart or a dropped connection in between is retried (see `retry`); if the daemon is still
   * unreachable when `timeoutSeconds` is up, that error is thrown.
   */
  async waitJob(id: number, timeoutSeconds?: number, signal?: AbortSignal): Promise<JobView> {
    return this.longPoll<JobView>(`/jobs/${id}/wait`, (j) => TERMINAL_STATUSES.includes(j.status), timeoutSeconds, signal);
  }

  /** The long-poll loop behind waitJob and Workflow.wait. */
  async longPoll<T>(path: string, done: (v: T) => boolean, timeoutSeconds?: number, signal?: AbortSignal): Promise<T> {
    const deadline = timeoutSeconds === undefined ? Infinity : Date.now() + timeoutSeconds * 1000;
    for (;;) {
      const left = deadline - Date.now();
      // One request waits at most a minute: well under fetch's own 300 s headers timeout and
      // any proxy's idle timeout; the loop makes up longer waits.
      const chunk = Math.max(0, Math.min(left, 60_000)) / 1000;
      const v = await this.json<T>('GET', path, { query: { timeout: chunk }, deadline, ...(signal ? { signal } : {}) });
      if (done(v) || Date.now() >= deadline) return v;
    }
  }

  async readLog(id: number, which: 'stdout' | 'stderr', opts: { offset?: number; task?: number; maxBytes?: number; signal?: AbortSignal } = {}): Promise<LogChunk> {
    const o: RequestOptions = { query: { offset: opts.offset, task: opts.task, maxBytes: opts.maxBytes }, ...(opts.signal ? { signal: opts.signal } : {}) };
    const path = `/jobs/${id}/${which}`;
    return this.attempts('GET', path, o, async () => {
      const res = await this.send('GET', path, o);
      const data = Buffer.from(await readBody(res, (r) => r.arrayBuffer(), this.url));
      return {
        data,
        text: data.toString('utf8'),
        nextOffset: Number(res.headers.get('x-next-offset') ?? (opts.offset ?? 0) + data.length),
        complete: res.headers.get('x-log-complete') === 'true',
      };
    });
  }

  /**
   * A task's log as it grows, chunk by chunk from `offset`, until the job has ended and the
   * whole log was read. Each read resumes at the byte offset the previous one ended at, so a
   * daemon restart or a dropped connection neither repeats nor skips bytes.
   */
  async *followLog(id: number, which: 'stdout' | 'stderr', opts: { offset?: number; task?: number; signal?: AbortSignal } = {}): AsyncGenerator<LogChunk> {
    let offset = opts.offset ?? 0;
    const base = { ...(opts.task !== undefined ? { task: opts.task } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
    for (;;) {
      const chunk = await this.readLog(id, which, { ...base, offset });
      offset = chunk.nextOffset;
      if (chunk.data.length) yield chunk;
      if (chunk.complete) return;
      if (chunk.data.length === 0) {
        // Nothing new: a one-second long-poll on the job, which also returns at once when it ends.
        // No deadline on this pause: a restart in the middle is retried for the whole budget.
        const j = await this.json<JobView>('GET', `/jobs/${id}/wait`, { query: { timeout: 1 }, ...(opts.signal ? { signal: opts.signal } : {}) });
        if (TERMINAL_STATUSES.includes(j.status)) {
          const last = await this.readLog(id, which, { ...base, offset });
          offset = last.nextOffset;
          if (last.data.length) yield last;
          if (last.complete || last.data.length === 0) return;
        }
      }
    }
  }

  listOutputs(id: number): Promise<OutputsView> {
    return this.json('GET', `/jobs/${id}/outputs`);
  }

  /** The bytes of one file of a running job's directory as they are now (path relative to it). */
  async snapshot(id: number, path: string): Promise<Buffer> {
    const o: RequestOptions = { query: { path } };
    const p = `/jobs/${id}/snapshot`;
    return this.attempts('GET', p, o, async () => Buffer.from(await readBody(await this.send('GET', p, o), (r) => r.arrayBuffer(), this.url)));
  }

  /**
   * Run `argv` (no shell: `['bash', '-c', '...']` for one) inside a running job's allocation.
   * Sent once, never retried: the command may have run even when the answer was lost.
   */
  execInJob(id: number, argv: readonly string[], opts: { timeoutSeconds?: number } = {}): Promise<ExecView> {
    return this.json('POST', `/jobs/${id}/exec`, { json: { argv, ...(opts.timeoutSeconds !== undefined ? { timeoutSeconds: opts.timeoutSeconds } : {}) }, retry: false });
  }

  private outputPath(id: number, name: string): string {
    return `/jobs/${id}/outputs/${name.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** One output's bytes, whole (verified against the daemon's SHA-256) or a range. */
  async downloadOutput(id: number, name: string, opts: { range?: { start: number; end?: number } } = {}): Promise<Buffer> {
    if (opts.range) {
      const headers = { range: `bytes=${opts.range.start}-${opts.range.end ?? ''}` };
      const path = this.outputPath(id, name);
      return this.attempts('GET', path, { headers }, async () => Buffer.from(await readBody(await this.send('GET', path, { headers }), (r) => r.arrayBuffer(), this.url)));
    }
    const parts: Buffer[] = [];
    await this.resumableGet(this.outputPath(id, name), name, {
      write: (b) => void parts.push(b),
      restart: () => void (parts.length = 0),
    });
    return Buffer.concat(parts);
  }

  /** Stream one output to `path` (temporary name, resumed after a break, checksum verified, then renamed). */
  async downloadOutputTo(id: number, name: string, path: string, opts: { onProgress?: Progress } = {}): Promise<string> {
    const tmp = `${path}.part-${process.pid}`;
    const fh = await open(tmp, 'w');
    // Writes name their offset: after a truncate the handle's own position would stay where it
    // was, and a download started over would leave a hole of zeros before its bytes.
    let at = 0;
    try {
      await this.resumableGet(
        this.outputPath(id, name),
        name,
        {
          write: async (b) => {
            await fh.write(b, 0, b.length, at);
            at += b.length;
          },
          restart: async () => {
            at = 0;
            await fh.truncate(0);
          },
        },
        opts.onProgress,
      );
      await fh.close();
      await rename(tmp, path);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    return path;
  }

  /**
   * GET a file whose answer carries its SHA-256, into `sink`. A broken transfer is resumed
   * with `Range: bytes=<received>-`, as long as the daemon still has the same bytes (same
   * SHA-256); otherwise it starts over. The whole is checked against the SHA-256 at the end.
   */
  private async resumableGet(path: string, name: string, sink: { write(b: Buffer): unknown; restart(): unknown }, onProgress?: Progress): Promise<void> {
    let received = 0;
    let hash = createHash('sha256');
    let expected: string | null = null;
    let total: number | undefined;
    const backoff = new Backoff(this.retry, `GET ${path}`);
    for (;;) {
      try {
        const headers: Record<string, string> = received > 0 ? { range: `bytes=${received}-` } : {};
        let res: Response;
        try {
          res = await this.send('GET', path, { headers });
        } catch (e) {
          // Everything arrived but the end of the answer did not: the daemon has nothing past it.
          if (e instanceof HpcBridgeError && e.status === 416 && received > 0 && received === total) break;
          throw e;
        }
        const sha = res.headers.get('x-checksum-sha256')?.toLowerCase() ?? null;
        if (received > 0 && (res.status !== 206 || sha !== expected)) {
          // The range was ignored, or the output changed: what was received is no longer a prefix.
          await sink.restart();
          received = 0;
          hash = createHash('sha256');
          if (res.status === 206) {
            await res.body?.cancel();
            expected = null;
            continue;
          }
        }
        if (received === 0) {
          expected = sha;
          const len = Number(res.headers.get('content-length') ?? NaN);
          total = Number.isFinite(len) ? len : undefined;
        }
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            const b = Buffer.from(chunk);
            await sink.write(b);
            hash.update(b);
            received += b.length;
            onProgress?.(received, total);
            backoff.reset();
          }
        } catch (e) {
          throw unreachable(this.url, e, 'while reading the answer');
        }
        if (total !== undefined && received < total) throw new HpcBridgeError('UNREACHABLE', `the answer from ${this.url} ended after ${received} of ${total} bytes`, 0);
        break;
      } catch (e) {
        await backoff.failed(e);
      }
    }
    const actual = hash.digest('hex');
    if (expected && expected !== actual) {
      throw new HpcBridgeError('CHECKSUM_MISMATCH', `output "${name}" arrived with SHA-256 ${actual}, the daemon has ${expected}`, 200);
    }
  }

  /** Upload a local file as an artifact, streamed; its SHA-256 is sent so the daemon verifies it. Retried whole (a PUT of the same bytes is idempotent). */
  async uploadArtifact(name: string, path: string, opts: { onProgress?: Progress; checksum?: boolean } = {}): Promise<ArtifactView> {
    const size = (await stat(path)).size;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (opts.checksum !== false) {
      const h = createHash('sha256');
      await pipeline(createReadStream(path), h);
      headers['x-checksum-sha256'] = h.digest('hex');
    }
    const body = () => Readable.toWeb(createReadStream(path).pipe(countingStream(size, opts.onProgress))) as unknown as ReadableStream;
    return this.json('PUT', `/artifacts/${encodeURIComponent(name)}`, { body, headers });
  }

  /** By name; page with `after` (the last name of the previous page). */
  async listArtifacts(opts: { limit?: number; after?: string } = {}): Promise<ArtifactView[]> {
    return (await this.json<{ artifacts: ArtifactView[] }>('GET', '/artifacts', { query: { limit: opts.limit, after: opts.after } })).artifacts;
  }

  getArtifact(name: string): Promise<ArtifactView> {
    return this.json('GET', `/artifacts/${encodeURIComponent(name)}`);
  }

  async deleteArtifact(name: string): Promise<void> {
    await this.request('DELETE', `/artifacts/${encodeURIComponent(name)}`);
  }

  /** The caller's key-value store (kv.ts). */
  get kv(): KeyValueStore {
    return new KeyValueStore(this);
  }

  async clusters(): Promise<ClusterView[]> {
    return (await this.json<{ clusters: ClusterView[] }>('GET', '/clusters')).clusters;
  }

  healthz(): Promise<{ status: string; clusters: { name: string; state: string }[] }> {
    return this.json('GET', '/healthz');
  }

  /**
   * The caller's job state changes as they happen (server-sent events). Pass the last seen
   * event id to resume without gaps. When the stream breaks (a daemon restart, a dropped
   * connection) it reconnects with backoff from the last event id it saw, so no event is lost
   * or repeated; it ends when `signal` aborts, or throws once reconnecting has failed for
   * `retryFor` seconds.
   */
  async *events(opts: { lastEventId?: number; signal?: AbortSignal } = {}): AsyncGenerator<JobEventView> {
    let last = opts.lastEventId;
    const backoff = new Backoff(this.retry, 'GET /events');
    const signal = opts.signal;
    for (;;) {
      let failure: unknown;
      try {
        const res = await this.send('GET', '/events', {
          headers: { accept: 'text/event-stream', ...(last !== undefined ? { 'last-event-id': String(last) } : {}) },
          ...(signal ? { signal } : {}),
        });
        backoff.reset();
        const decoder = new TextDecoder();
        let buf = '';
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            buf += decoder.decode(chunk, { stream: true });
            let sep: number;
            while ((sep = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, sep);
              buf = buf.slice(sep + 2);
              let data = '';
              for (const line of block.split('\n')) {
                // The daemon names its cursor in an id-only block first, so a reconnect before
                // the first event still resumes from the moment the stream was opened.
                if (line.startsWith('id:')) last = Number(line.slice(3).trim());
                else if (line.startsWith('data:')) data += (data ? '\n' : '') + line.slice(5).trimStart();
              }
              if (data) yield JSON.parse(data) as JobEventView;
            }
          }
          failure = new HpcBridgeError('UNREACHABLE', `the daemon at ${this.url} closed the event stream`, 0);
        } catch (e) {
          failure = unreachable(this.url, e, 'while following events');
        }
      } catch (e) {
        failure = e;
      }
      if (signal?.aborted) return;
      try {
        await backoff.failed(failure, signal);
      } catch (e) {
        if (signal?.aborted) return;
        throw e;
      }
    }
  }
}

function keyed(opts: { idempotencyKey?: string; signal?: AbortSignal }): RequestOptions {
  return { ...(opts.idempotencyKey ? { headers: { 'idempotency-key': opts.idempotencyKey } } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
}

/** A failure to connect or a connection that broke, as the SDK's transient error. */
function unreachable(url: string, e: unknown, when = ''): unknown {
  if ((e as Error).name === 'AbortError' || e instanceof HpcBridgeError) return e;
  const c = (e as { cause?: { message?: string; code?: string } }).cause;
  const cause = c?.code && c.message && !c.message.includes(c.code) ? `${c.code} ${c.message}` : (c?.message ?? (e as Error).message);
  return new HpcBridgeError('UNREACHABLE', `cannot reach the hpc-bridge daemon at ${url}${when ? ` ${when}` : ''}: ${cause}`, 0);
}

/** Read an answer's body; a connection that breaks meanwhile is a transient UNREACHABLE. */
async function readBody<T>(res: Response, read: (r: Response) => Promise<T>, url: string): Promise<T> {
  try {
    return await read(res);
  } catch (e) {
    if (e instanceof SyntaxError) throw new HpcBridgeError('BAD_RESPONSE', `the answer from ${url} is not JSON: ${e.message}`, res.status);
    throw unreachable(url, e, 'while reading the answer');
  }
}

let defaultClient: Client | undefined;

/** The client used by Job, Artifact and friends when none is passed (built from the environment). */
export function getDefaultClient(): Client {
  return (defaultClient ??= new Client());
}

export function setDefaultClient(c: Client | undefined): void {
  defaultClient = c;
}
