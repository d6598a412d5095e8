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
      responses: { 200: 'an endless text/event-stream; each event is `event: job`, `id: <event id>`, `data: JobEvent`' },
      handler: (ctx) => {
        const q = ctx.query as z.infer<typeof StreamQuery>;
        const lastHeader = header(ctx.req, 'last-event-id');
        const last = lastHeader !== undefined ? parseWith(z.coerce.number().int().min(0), lastHeader, 'Last-Event-ID') : q.lastEventId;
        // Without a resume point the stream starts at "now": history is at /jobs/{id}/events.
        let cursor = last ?? bridge.store.lastEventId();
        const res = ctx.res;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' });
        res.write('retry: 2000\n\n');
        let paused = false;
        const pump = () => {
          if (paused || res.destroyed) return;
          for (;;) {
            const rows = bridge.store.ownerEventsAfter(ctx.user, cursor, 500);
            for (const r of rows) {
              cursor = r.id;
              const ev = eventView(r);
              if (!res.write(`id: ${r.id}\nevent: job\ndata: ${JSON.stringify(ev)}\n\n`)) {
                // A slow reader: stop here; the cursor remembers where to continue after 'drain'.
                paused = true;
                res.once('drain', () => {
                  paused = false;
                  pump();
                });
                return;
              }
            }
            if (rows.length < 500) return;
          }
        };
        const unsubscribe = hub.subscribe({ owner: ctx.user, poke: pump });
        const keepalive = setInterval(() => res.write(': keepalive\n\n'), keepaliveMs);
        keepalive.unref();
        streams.add(res);
        res.on('close', () => {
          clearInterval(keepalive);
          unsubscribe();
          streams.delete(res);
        });
        pump();
      },
    },
  );
}
