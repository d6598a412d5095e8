/**
 * What a job leaves behind: task logs read from an offset while it runs, and its collected
 * outputs, listed and downloaded (with byte ranges).
 */
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { OutputsView } from '../../client/types.js';
import { BridgeError } from '../../domain/errors.js';
import { ownedJob as findOwnedJob, type ApiContext } from '../context.js';
import { header, parseRange, sendJson } from '../http.js';
import type { Ctx, RouteDef, Router } from '../router.js';
import { LogQuery } from '../schemas.js';

export function registerJobFileRoutes(r: Router, api: ApiContext): void {
  const { maxLog } = api.limits;
  const staging = api.staging;
  const ownedJob = (ctx: Ctx) => findOwnedJob(api, ctx);

  const logRoute = (which: 'stdout' | 'stderr'): RouteDef => ({
    method: 'GET',
    path: `/jobs/{id}/${which}`,
    summary: `A task's ${which} from a byte offset; X-Next-Offset says where to continue, X-Log-Complete whether the job has ended and this is the end`,
    auth: true,
    query: LogQuery,
    produces: 'text/plain',
    responses: { 200: `${which} bytes`, 404: 'unknown job' },
    handler: async (ctx) => {
      const job = ownedJob(ctx);
      const q = ctx.query as z.infer<typeof LogQuery>;
      const offset = q.offset ?? 0;
      const maxBytes = Math.min(q.maxBytes ?? maxLog, maxLog);
      const chunk = await staging().readLog(job.id, ctx.user, which, { ...(q.task !== undefined ? { task: q.task } : {}), offset, maxBytes });
      ctx.res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': chunk.data.length,
        'x-next-offset': String(chunk.nextOffset),
        'x-log-complete': String(chunk.complete),
        'cache-control': 'no-store',
      });
      ctx.res.end(chunk.data);
    },
  });

  r.add(
    logRoute('stdout'),
    logRoute('stderr'),
    {
      method: 'GET',
      path: '/jobs/{id}/outputs',
      summary: "A job's collected outputs with size and SHA-256, and what could not be collected",
      auth: true,
      responses: { 200: '{outputs, problems}', 404: 'unknown job' },
      handler: (ctx) => {
        const job = ownedJob(ctx);
        const report = staging().listOutputs(job.id, ctx.user);
        const out: OutputsView = { outputs: report.outputs, problems: report.problems };
        sendJson(ctx.res, 200, out);
      },
    },
    {
      method: 'GET',
      path: '/jobs/{id}/outputs/{name*}',
      summary: 'The bytes of one output; Range: bytes=a-b supported (206)',
      auth: true,
      headers: { Range: { schema: z.string(), description: 'one bytes=start-end range' } },
      produces: 'application/octet-stream',
      responses: { 200: 'the whole output', 206: 'the requested range', 404: 'unknown job or output', 416: 'range outside the output' },
      handler: async (ctx) => {
        const job = ownedJob(ctx);
        const s = staging();
        const name = ctx.params.name!;
        const info = s.listOutputs(job.id, ctx.user).outputs.find((o) => o.name === name);
        if (!info) throw new BridgeError('NOT_FOUND', `job ${job.id} has no output named "${name}"`, { context: { jobId: job.id, field: 'name' } });
        const range = parseRange(header(ctx.req, 'range'), info.size);
        const opened = await s.openOutput(job.id, ctx.user, name, range);
        const headers: Record<string, string | number> = {
          'content-type': 'application/octet-stream',
          'accept-ranges': 'bytes',
          etag: `"${opened.sha256}"`,
          'x-checksum-sha256': opened.sha256,
          'content-disposition': `attachment; filename="${posix.basename(name).replace(/[^A-Za-z0-9_.+-]/g, '_')}"`,
        };
        if (range) {
          headers['content-range'] = `bytes ${range.start}-${range.end}/${opened.size}`;
          headers['content-length'] = range.end - range.start + 1;
        } else {
          headers['content-length'] = opened.size;
        }
        ctx.res.writeHead(range ? 206 : 200, headers);
        await pipeline(opened.stream, ctx.res);
      },
    },
  );
}
