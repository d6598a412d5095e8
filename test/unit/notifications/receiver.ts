/**
 * A real webhook receiver for the notification tests: a node:http server on loopback that
 * records every request (headers and exact body bytes) and answers what the test says, or
 * holds the request open so the test can kill the daemon while a POST is in flight.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

export interface Hit {
  deliveryId: string;
  event: string;
  timestamp: string;
  signature: string;
  body: string;
  /** When it arrived (ms since the epoch). */
  at: number;
}

/** A status to answer with, or 'hold': keep the request open (the test answers via `held`). */
export type Answer = number | 'hold';

export interface Receiver {
  url: string;
  port: number;
  hits: Hit[];
  held: ServerResponse[];
  /** Answer the next requests by `answer(hit, number of hits so far)`. */
  answer: (hit: Hit, n: number) => Answer;
  /** Resolves once `n` requests have arrived. */
  waitHits(n: number): Promise<Hit[]>;
  close(): Promise<void>;
}

/** Listen on `port` (0: any free one); with `tls`, an https receiver with that key and certificate. */
export async function startReceiver(answer: (hit: Hit, n: number) => Answer, port = 0, tls?: { key: string; cert: string }): Promise<Receiver> {
  const hits: Hit[] = [];
  const waiters: { n: number; resolve: (h: Hit[]) => void }[] = [];
  const rec: Receiver = {
    url: '',
    port: 0,
    hits,
    held: [],
    answer,
    waitHits: (n) => new Promise((resolve) => (hits.length >= n ? resolve(hits) : waiters.push({ n, resolve }))),
    close: () => closeServer(server),
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const h = (name: string) => String(req.headers[name] ?? '');
      const hit: Hit = { deliveryId: h('x-hpcb-delivery'), event: h('x-hpcb-event'), timestamp: h('x-hpcb-timestamp'), signature: h('x-hpcb-signature'), body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      hits.push(hit);
      const a = rec.answer(hit, hits.length);
      if (a === 'hold') rec.held.push(res);
      else res.writeHead(a).end();
      for (const w of waiters.filter((x) => hits.length >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(hits);
      }
    });
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  rec.port = (server.address() as { port: number }).port;
  rec.url = `${tls ? 'https' : 'http'}://127.0.0.1:${rec.port}/hook`;
  return rec;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** What a receiver does with the signature header: recompute it over the bytes received. */
export function signatureValid(secret: string, hit: Hit): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${hit.timestamp}.${hit.body}`).digest('hex')}`);
  const got = Buffer.from(hit.signature);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** Poll `check` every 100 ms until it returns something (the test's own timeout bounds it). */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  for (;;) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}
