/**
 * The low-level client: one method per endpoint, built on Node's global fetch. No runtime
 * dependencies and nothing outside src/client is imported at run time, so this folder packs
 * into a package that installs without native builds (see src/client/pack-client.mjs).
 *
 * Every failure is thrown as an `HpcBridgeError` with the daemon's code, message and field;
 * no method returns `false` or an empty value to signal an error.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type {
  ArtifactView,
  ClusterView,
  ErrorBody,
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

export const DEFAULT_URL = 'http://127.0.0.1:8742';

export class HpcBridgeError extends Error {
  override readonly name = 'HpcBridgeError';
  constructor(
    /** The daemon's error code (NOT_FOUND, INVALID_DEFINITION, ...), or UNREACHABLE / BAD_RESPONSE from the client itself. */
    readonly code: string,
    message: string,
    /** HTTP status, 0 when the daemon could not be reached. */
    readonly status: number,
    readonly field?: string,
    readonly problems?: { field: string; message: string }[],
  ) {
    super(message);
  }
}

export interface ClientOptions {
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

interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  json?: unknown;
  body?: ReadableStream | Buffer;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

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

  constructor(opts: ClientOptions = {}) {
    this.url = (opts.url ?? process.env.HPC_BRIDGE_URL ?? DEFAULT_URL).replace(/\/+$/, '');
    this.token = opts.token ?? process.env.HPC_BRIDGE_TOKEN;
  }

  /** Send a request; throws HpcBridgeError for any non-2xx answer. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
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
      body = opts.body;
    }
    let res: Response;
    try {
      res = await fetch(u, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(opts.body instanceof ReadableStream ? { duplex: 'half' } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      } as RequestInit);
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      const cause = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
      throw new HpcBridgeError('UNREACHABLE', `cannot reach the hpc-bridge daemon at ${this.url}: ${cause}`, 0);
    }
    if (res.ok) return res;
    const text = await res.text();
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

  private async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    return (await res.json()) as T;
  }

  createJob(definition: JobDefinition, opts: { idempotencyKey?: string } = {}): Promise<{ id: number }> {
    return this.json('POST', '/jobs', { json: definition, ...(opts.idempotencyKey ? { headers: { 'idempotency-key': opts.idempotencyKey } } : {}) });
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

  cloneJob(id: number, opts: { idempotencyKey?: string } = {}): Promise<{ id: number }> {
    return this.json('POST', `/jobs/${id}/clone`, opts.idempotencyKey ? { headers: { 'idempotency-key': opts.idempotencyKey } } : {});
  }

  async jobEvents(id: number, after = 0): Promise<JobEventView[]> {
    return (await this.json<{ events: JobEventView[] }>('GET', `/jobs/${id}/events`, { query: { after } })).events;
  }

  /**
   * Wait until the job is terminal, by long-polling the daemon (each request is answered the
   * moment the daemon records the terminal state). `timeoutSeconds` undefined waits forever;
   * otherwise the job is returned as it is when the time is up (check `status`).
   */
  async waitJob(id: number, timeoutSeconds?: number, signal?: AbortSignal): Promise<JobView> {
    const deadline = timeoutSeconds === undefined ? Infinity : Date.now() + timeoutSeconds * 1000;
    for (;;) {
      const left = deadline - Date.now();
      // One request waits at most a minute: well under fetch's own 300 s headers timeout and
      // any proxy's idle timeout; the loop makes up longer waits.
      const chunk = Math.max(0, Math.min(left, 60_000)) / 1000;
      const job = await this.json<JobView>('GET', `/jobs/${id}/wait`, { query: { timeout: chunk }, ...(signal ? { signal } : {}) });
      if (TERMINAL_STATUSES.includes(job.status) || Date.now() >= deadline) return job;
    }
  }

  async readLog(id: number, which: 'stdout' | 'stderr', opts: { offset?: number; task?: number; maxBytes?: number } = {}): Promise<LogChunk> {
    const res = await this.request('GET', `/jobs/${id}/${which}`, { query: { offset: opts.offset, task: opts.task, maxBytes: opts.maxBytes } });
    const data = Buffer.from(await res.arrayBuffer());
    return {
      data,
      text: data.toString('utf8'),
      nextOffset: Number(res.headers.get('x-next-offset') ?? (opts.offset ?? 0) + data.length),
      complete: res.headers.get('x-log-complete') === 'true',
    };
  }

  listOutputs(id: number): Promise<OutputsView> {
    return this.json('GET', `/jobs/${id}/outputs`);
  }

  private outputPath(id: number, name: string): string {
    return `/jobs/${id}/outputs/${name.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** One output's bytes, whole (verified against the daemon's SHA-256) or a range. */
  async downloadOutput(id: number, name: string, opts: { range?: { start: number; end?: number } } = {}): Promise<Buffer> {
    const headers: Record<string, string> = opts.range ? { range: `bytes=${opts.range.start}-${opts.range.end ?? ''}` } : {};
    const res = await this.request('GET', this.outputPath(id, name), { headers });
    const data = Buffer.from(await res.arrayBuffer());
    if (res.status === 200) verifySha(res, createHash('sha256').update(data).digest('hex'), name);
    return data;
  }

  /** Stream one output to `path` (temporary name, checksum verified, then renamed). */
  async downloadOutputTo(id: number, name: string, path: string, opts: { onProgress?: Progress } = {}): Promise<string> {
    const res = await this.request('GET', this.outputPath(id, name));
    const total = Number(res.headers.get('content-length') ?? NaN);
    const tmp = `${path}.part-${process.pid}`;
    const hash = createHash('sha256');
    const hasher = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), countingStream(Number.isFinite(total) ? total : undefined, opts.onProgress), hasher, createWriteStream(tmp));
      verifySha(res, hash.digest('hex'), name);
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    return path;
  }

  /** Upload a local file as an artifact, streamed; its SHA-256 is sent so the daemon verifies it. */
  async uploadArtifact(name: string, path: string, opts: { onProgress?: Progress; checksum?: boolean } = {}): Promise<ArtifactView> {
    const size = (await stat(path)).size;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (opts.checksum !== false) {
      const h = createHash('sha256');
      await pipeline(createReadStream(path), h);
      headers['x-checksum-sha256'] = h.digest('hex');
    }
    const source = createReadStream(path).pipe(countingStream(size, opts.onProgress));
    const body = Readable.toWeb(source) as unknown as ReadableStream;
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

  async clusters(): Promise<ClusterView[]> {
    return (await this.json<{ clusters: ClusterView[] }>('GET', '/clusters')).clusters;
  }

  healthz(): Promise<{ status: string; clusters: { name: string; state: string }[] }> {
    return this.json('GET', '/healthz');
  }

  /**
   * The caller's job state changes as they happen (server-sent events). Pass the last seen
   * event id to resume without gaps. Ends when `signal` aborts or the daemon closes the stream.
   */
  async *events(opts: { lastEventId?: number; signal?: AbortSignal } = {}): AsyncGenerator<JobEventView> {
    const res = await this.request('GET', '/events', {
      headers: { accept: 'text/event-stream', ...(opts.lastEventId !== undefined ? { 'last-event-id': String(opts.lastEventId) } : {}) },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let sep: number;
        while ((sep = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, sep);
          buf = buf.slice(sep + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (data) yield JSON.parse(data) as JobEventView;
        }
      }
    } catch (e) {
      if ((e as Error).name !== 'AbortError') throw e;
    }
  }
}

function verifySha(res: Response, actual: string, name: string): void {
  const expected = res.headers.get('x-checksum-sha256');
  if (expected && expected.toLowerCase() !== actual) {
    throw new HpcBridgeError('CHECKSUM_MISMATCH', `output "${name}" arrived with SHA-256 ${actual}, the daemon has ${expected}`, res.status);
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
