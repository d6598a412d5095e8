/**
 * Request and answer helpers shared by every route module: JSON answers, size-limited bodies,
 * parameter validation that names the field, and byte ranges.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { fieldName, zodProblems } from '../domain/jobSpec.js';
import { HttpError } from './errors.js';
import { IdempotencyKey } from './schemas.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/**
 * Read a whole (small) body, refusing when it is, or turns out to be, over `limit`.
 *
 * A refused body is still read (and thrown away) up to `drainLimit(limit)` before the 413 is
 * sent: answering and closing while the client is still writing makes its socket fail with
 * EPIPE or ECONNRESET, and most clients (Node's fetch among them) then report that error
 * instead of the answer. Only a body larger than that bound is cut off unread.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (msg: string) => new HttpError('TOO_LARGE', msg, undefined, { connection: 'close' });
  const bound = drainLimit(limit);
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    const err = tooLarge(`request body of ${declared} bytes exceeds the limit of ${limit}`);
    return declared <= bound ? discard(req, bound).then(() => Promise.reject(err)) : Promise.reject(err);
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      stop();
      chunks.length = 0;
      void discard(req, bound - size).then(() => reject(tooLarge(`request body exceeds the limit of ${limit} bytes`)));
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (e: Error) => {
      stop();
      reject(e);
    };
    const onClose = () => {
      stop();
      reject(new Error('the request was aborted before its body ended'));
    };
    req.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose);
  });
}

/** How much of a refused body is read before answering (see readBody). */
export const drainLimit = (limit: number) => Math.max(limit * 4, 64 << 20);

/** Read and drop the rest of a body, up to `budget` more bytes; resolves when it ended, failed, or went over. */
function discard(req: IncomingMessage, budget: number): Promise<void> {
  if (req.complete) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', done);
      req.off('error', done);
      req.off('close', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > budget) {
        req.pause();
        done();
      }
    };
    req.on('data', onData).once('end', done).once('error', done).once('close', done);
    req.resume();
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
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
    // A bare string body has no field inside it: the body itself is at fault.
    return segs.length > 0 ? fieldName(segs) : 'body';
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

export function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const p = zodProblems(r.error)[0]!;
  const field = p.field === '(definition)' ? where : p.field;
  throw new HttpError('INVALID_REQUEST', `${field}: ${p.message}`, field);
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The request's Idempotency-Key, validated (a create that sends none gets undefined). */
export function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const raw = header(req, 'idempotency-key');
  return raw === undefined ? undefined : parseWith(IdempotencyKey, raw, 'Idempotency-Key');
}

/** How long one long-poll waits: the caller's `timeout` (30 s when absent), never past the daemon's cap. */
export function waitMs(timeoutSeconds: number | undefined, maxWaitMs: number): number {
  return Math.min((timeoutSeconds ?? 30) * 1000, maxWaitMs);
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
