/**
 * One HTTP/1.1 exchange over an open stream, framed by the answer itself: slurmrestd 22.05's
 * stray header line after the body (what made every REST submission look lost) is ignored, an
 * answer split across packets or chunked is read whole, a clean keep-alive stream carries the
 * next request, and a stream that closes before the answer ends is an error.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { httpExchange } from '../../../src/transport/httpExchange.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((sv) => new Promise((r) => sv.close(r))));
});

/** A socket server that answers each request (read up to its body's end) with `answers[i]`, a list of pieces written 5 ms apart. */
async function serve(answers: (string | null)[][]): Promise<{ socket: () => Promise<Socket>; requests: string[] }> {
  const path = join(mkdtempSync(join(tmpdir(), 'hpcb-http-')), 's');
  const requests: string[] = [];
  let n = 0;
  const server = createServer((s) => {
    sockets.push(s);
    let buf = '';
    s.on('data', async (d) => {
      buf += d.toString();
      const m = /Content-Length: (\d+)\r\n\r\n/.exec(buf);
      if (!m || buf.length < m.index + m[0].length + Number(m[1])) return;
      requests.push(buf);
      buf = '';
      for (const piece of answers[n++] ?? []) {
        if (piece === null) s.end();
        else s.write(piece);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return { socket: () => new Promise((r) => { const c = connect(path, () => r(c)); sockets.push(c); }), requests };
}

const BODY = '{"job_id": 42, "errors": []}';
const req = { method: 'POST', path: '/slurm/v0.0.38/job/submit', body: '{"job":{}}' };

describe('httpExchange', () => {
  it('reads the body its Content-Length frames and ignores what slurmrestd writes after it', async () => {
    const { socket, requests } = await serve([[`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\nContent-Type: application/json\r\n\r\n${BODY}Connection: Close\r\n`]]);
    const s = await socket();
    const a = await httpExchange(s, req, 5000);
    expect(a).toEqual({ status: 200, body: BODY, reusable: false });
    expect(requests[0]).toMatch(/^POST \/slurm\/v0\.0\.38\/job\/submit HTTP\/1\.1\r\n/);
    expect(requests[0]).not.toMatch(/Connection: close/i);
    expect(requests[0]!.endsWith('\r\n\r\n{"job":{}}')).toBe(true);
    s.destroy();
  });

  it('reads an answer split across packets, then the next request on the same stream', async () => {
    const head = `HTTP/1.1 500 Internal Server Error\r\nContent-Len`;
    const { socket } = await serve([
      [head, `gth: ${BODY.length}\r\n\r\n${BODY.slice(0, 5)}`, BODY.slice(5)],
      [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n${BODY.slice(0, 5)}\r\n`, `${(BODY.length - 5).toString(16)}\r\n${BODY.slice(5)}\r\n0\r\n\r\n`],
    ]);
    const s = await socket();
    expect(await httpExchange(s, req, 5000)).toEqual({ status: 500, body: BODY, reusable: true });
    expect(await httpExchange(s, req, 5000)).toEqual({ status: 200, body: BODY, reusable: true });
    s.destroy();
  });

  it('fails when the stream closes before the answer ended, or the answer is not HTTP', async () => {
    const { socket } = await serve([[`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${BODY}`, null]]);
    await expect(httpExchange(await socket(), req, 5000)).rejects.toThrow(/closed before the answer ended/);
    const other = await serve([['SSH-2.0-nope\r\n\r\n']]);
    await expect(httpExchange(await other.socket(), req, 5000)).rejects.toThrow(/not an HTTP answer/);
  });
});
