/**
 * The server-sent event stream of every state change of the caller's jobs, resumable with
 * Last-Event-ID; the event hub (hub.ts) wakes it when something changes.
 */
import { z } from 'zod';
import type { JobState } from '../../domain/state.js';
import type { ApiContext } from '../context.js';
import { header, parseWith } from '../http.js';
import type { Router } from '../router.js';
import { StreamQuery } from '../schemas.js';
import { eventView } from '../views.js';

export function registerEventRoutes(r: Router, api: ApiContext): void {
  const { bridge, hub, streams } = api;
  const { keepaliveMs } = api.limits;
  const ownerEvents = bridge.store.db.prepare(
    `SELECT e.id, e.job_id, e.at, e.from_state, e.to_state, e.reason FROM job_events e JOIN jobs j ON j.id = e.job_id
     WHERE j.owner = ? AND e.id > ? ORDER BY e.id LIMIT ?`,
  );
  const maxEventId = bridge.store.db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM job_events');
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
        let cursor = last ?? (maxEventId.get() as { id: number }).id;
        const res = ctx.res;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' });
        res.write('retry: 2000\n\n');
        let paused = false;
        const pump = () => {
          if (paused || res.destroyed) return;
          for (;;) {
            const rows = ownerEvents.all(ctx.user, cursor, 500) as { id: number; job_id: number; at: number; from_state: JobState | null; to_state: JobState; reason: string | null }[];
            for (const r of rows) {
              cursor = r.id;
              const ev = eventView({ id: r.id, jobId: r.job_id, at: r.at, from: r.from_state, to: r.to_state, reason: r.reason });
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
