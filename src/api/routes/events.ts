/**
 * The server-sent event stream of every state change of the caller's jobs, resumable with
 * Last-Event-ID; the event hub (hub.ts) wakes it when something changes.
 */
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { header, parseWith } from '../http.js';
import type { Router } from '../router.js';
import { StreamQuery } from '../schemas.js';
import { eventView } from '../views.js';
import type { EventRow } from '../hub.js';

export function registerEventRoutes(r: Router, api: ApiContext): void {
  const { bridge, hub, streams } = api;
  const { keepaliveMs } = api.limits;
  r.add(
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
        const res = ctx.res;
        const send = (rows: EventRow[]): boolean => {
          let ok = true;
          for (const r of rows) {
            sub.cursor = r.id;
            ok = res.write(`id: ${r.id}\nevent: job\ndata: ${JSON.stringify(eventView(r))}\n\n`) && ok;
          }
          // A slow reader: the hub skips it until 'drain', then it catches up from its cursor.
          if (!ok) res.once('drain', () => handle.resume());
          return ok;
        };
        // Without a resume point the stream starts at "now": history is at /jobs/{id}/events.
        const sub = { owner: ctx.user, cursor: last ?? bridge.store.lastEventId(), deliver: (rows: EventRow[]) => !res.destroyed && send(rows) };
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
  );
}
