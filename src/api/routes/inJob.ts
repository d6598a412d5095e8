/**
 * Reaching into a running job: one file of its directory (a snapshot) and a short command inside
 * its allocation (exec), both as the job's own Unix account (src/inJob.ts).
 */
import type { z } from 'zod';
import { ownedJob as findOwnedJob, type ApiContext } from '../context.js';
import { parseWith, readJson, sendJson } from '../http.js';
import type { Ctx, Router } from '../router.js';
import { ExecBody, SnapshotQuery } from '../schemas.js';

export function registerInJobRoutes(r: Router, api: ApiContext): void {
  const { bridge } = api;
  const ownedJob = (ctx: Ctx) => findOwnedJob(api, ctx);

  r.add(
    {
      method: 'GET',
      path: '/jobs/{id}/snapshot',
      summary: "The bytes of one file of a running job's directory, read now as the job's account (the intermediate results of a long run)",
      auth: true,
      query: SnapshotQuery,
      produces: 'application/octet-stream',
      responses: {
        200: 'the file',
        400: 'a path that is absolute, has "..", names .hpcb, a directory, or resolves outside the job directory',
        404: 'unknown job (or another user\'s), or no such file',
        409: 'the job is not running',
        413: "the file is larger than the daemon's limits.snapshotBytes",
      },
      handler: async (ctx) => {
        const job = ownedJob(ctx);
        const { path } = ctx.query as z.infer<typeof SnapshotQuery>;
        const data = await bridge.snapshot(job.id, ctx.user, path ?? '');
        ctx.res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length, 'cache-control': 'no-store' });
        ctx.res.end(data);
      },
    },
    {
      method: 'POST',
      path: '/jobs/{id}/exec',
      summary: "Run a short command inside a running job's allocation (Slurm: a step overlapping the job; direct: beside it in its directory) as the job's account; answers with its exit status and output once it ended or its time limit cut it off",
      auth: true,
      body: ExecBody,
      responses: {
        200: '{exitCode, timedOut, stdout, stderr, stdoutBytes, stderrBytes, truncated, timeoutSeconds, durationMs}',
        400: 'invalid argv or timeoutSeconds (names the field)',
        404: 'unknown job (or another user\'s)',
        409: 'the job is not running, or its scheduler offers no way into a running job (PBS), with the reason',
      },
      handler: async (ctx) => {
        // Ownership first: another user's job is 404 whatever the body says.
        const job = ownedJob(ctx);
        const body = parseWith(ExecBody, await readJson(ctx.req, 1 << 20), 'body');
        sendJson(ctx.res, 200, await bridge.exec(job.id, ctx.user, body));
      },
    },
  );
}
