/**
 * A TCP proxy for tests that drops connections at chosen moments. Every connection from a
 * client is piped to `target`; `drop` decides, per chunk that passes in either direction,
 * whether to destroy both sides now (the client sees ECONNRESET or a cut-off answer). A
 * seeded generator makes the moments reproducible. It also counts what went by, so a test can
 * see that resuming really happened (Range requests, Last-Event-ID).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** mulberry32: a tiny deterministic PRNG, enough to place drops reproducibly. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Proxy {
  port: number;
  url: string;
  drops: number;
  /** Request heads seen from clients (first line plus Range / Last-Event-ID / Idempotency-Key headers). */
  requests: string[];
  /** Cut every open connection now (idle keep-alive ones and event streams included). */
  cutAll(): void;
  close(): Promise<void>;
}

export async function startProxy(target: { host: string; port: number }, drop: (direction: 'up' | 'down', bytes: number) => boolean): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const state: Proxy = { port: 0, url: '', drops: 0, requests: [], cutAll: () => undefined, close: async () => undefined };
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    // Once a drop is decided nothing more may pass either way: chunks already queued behind the
    // cut would otherwise reach the peer after a gap, a byte stream no real network delivers.
    let cut = false;
    const kill = () => {
      cut = true;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    const pass = (from: Socket, to: Socket, direction: 'up' | 'down') =>
      from.on('data', (chunk: Buffer) => {
        if (cut) return;
        if (direction === 'up') {
          for (const m of chunk.toString('latin1').matchAll(/^(GET|POST|PUT|DELETE) (\S+) HTTP[^\r]*\r\n((?:[^\r]+\r\n)*)/gm)) {
            const extra = [...m[3]!.matchAll(/^(range|last-event-id|idempotency-key): ([^\r]*)$/gim)].map((h) => `${h[1]!.toLowerCase()}: ${h[2]}`);
            state.requests.push([`${m[1]} ${m[2]}`, ...extra].join(' | '));
          }
        }
        if (drop(direction, chunk.length)) {
          state.drops++;
          cut = true;
          // Half of the chunk goes through first: the peer sees a partial message, not a clean gap.
          to.write(chunk.subarray(0, chunk.length >> 1), () => kill());
          return;
        }
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
    pass(client, upstream, 'up');
    pass(upstream, client, 'down');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  state.port = port;
  state.url = `http://127.0.0.1:${port}`;
  state.cutAll = () => {
    state.drops++;
    for (const s of sockets) s.destroy();
  };
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}
