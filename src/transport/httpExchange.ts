/**
 * One HTTP/1.1 request and its answer over a byte stream that is already open (a forwarded
 * stream of an SSH connection, or a local socket), read by its own framing: the answer ends
 * where its Content-Length (or the last chunk) says, not when the stream closes.
 *
 * Why not Node's http client: slurmrestd 22.05 answers a request that asked for
 * `Connection: close` with the body and then one more header line ("Connection: Close") after
 * it. Node's parser rejects those stray bytes as a broken answer, so every submission through
 * the daemon looked lost and waited for the tag lookup. Here a request keeps the connection
 * (no close asked for), bytes after the body are ignored, and the stream may carry the next
 * request when the answer was framed cleanly.
 */
import type { Duplex } from 'node:stream';

export interface HttpRequest {
  method: string;
  path: string;
  /** JSON text. */
  body?: string;
}

export interface HttpAnswer {
  status: number;
  body: string;
  /** The stream ended cleanly after this answer and may carry another request. */
  reusable: boolean;
}

const HEAD_END = '\r\n\r\n';
/** A head larger than this is not an HTTP answer worth reading. */
const MAX_HEAD = 64 * 1024;

/** Send `req` over `stream` and read one answer. Rejects on a timeout, a close before the answer ended, or an unreadable answer. */
export function httpExchange(stream: Duplex, req: HttpRequest, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let head: { status: number; length: number | null; chunked: boolean; keep: boolean; bodyAt: number } | undefined;
    const done = (e: Error | null, a?: HttpAnswer) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onEnd);
      if (e) reject(e);
      else resolve(a!);
    };
    const onError = (e: Error) => done(e);
    const onEnd = () => {
      // Without a length the answer runs to the end of the stream.
      if (head && head.length === null && !head.chunked) done(null, { status: head.status, body: buf.subarray(head.bodyAt).toString('utf8'), reusable: false });
      else done(new Error(`the stream closed before the answer ended (${buf.length} bytes read)`));
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        head ??= readHead(buf);
        if (!head) return;
        const body = head.chunked ? unchunk(buf, head.bodyAt) : head.length !== null && buf.length - head.bodyAt >= head.length ? { text: buf.subarray(head.bodyAt, head.bodyAt + head.length), end: head.bodyAt + head.length } : undefined;
        if (!body) return;
        done(null, { status: head.status, body: body.text.toString('utf8'), reusable: head.keep && body.end === buf.length });
      } catch (e) {
        done(e as Error);
      }
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onError);
    const body = req.body ?? '';
    stream.write(`${req.method} ${req.path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
}

/** The answer's status line and the headers that frame it, once the whole head is in `buf`. */
function readHead(buf: Buffer): { status: number; length: number | null; chunked: boolean; keep: boolean; bodyAt: number } | undefined {
  const at = buf.indexOf(HEAD_END);
  if (at < 0) {
    if (buf.length > MAX_HEAD) throw new Error('the answer has no end of its head');
    return undefined;
  }
  const [statusLine, ...lines] = buf.subarray(0, at).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(statusLine ?? '');
  if (!m) throw new Error(`not an HTTP answer: ${JSON.stringify((statusLine ?? '').slice(0, 80))}`);
  const headers = new Map(lines.filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim().toLowerCase()]));
  const length = headers.has('content-length') ? Number(headers.get('content-length')) : null;
  if (length !== null && !(Number.isInteger(length) && length >= 0)) throw new Error(`bad Content-Length ${headers.get('content-length')}`);
  const chunked = /\bchunked\b/.test(headers.get('transfer-encoding') ?? '');
  const keep = m[1] === '1' ? headers.get('connection') !== 'close' : headers.get('connection') === 'keep-alive';
  return { status: Number(m[2]), length: chunked ? null : length, chunked, keep, bodyAt: at + HEAD_END.length };
}

/** A chunked body from `at`, once its last chunk is in `buf`. */
function unchunk(buf: Buffer, at: number): { text: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let i = at;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return undefined;
    const size = parseInt(buf.subarray(i, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size in the answer');
    if (size === 0) {
      // No trailers are asked for: the last chunk ends with an empty line.
      const end = buf.indexOf('\r\n', eol + 2);
      return end < 0 ? undefined : { text: Buffer.concat(parts), end: end + 2 };
    }
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}
