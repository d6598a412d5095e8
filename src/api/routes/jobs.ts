/**
 * Jobs: create (idempotently), render without creating, list, describe, cancel, clone, their
 * state changes, and the long-poll that answers when a job ends.
 */
import type { z } from 'zod';
import { BridgeError } from '../../domain/errors.js';
import { parseJobSpec } from '../../domain/jobSpec.js';
import { scriptContextFor } from '../../engine/scriptContext.js';
import type { RenderView } from '../../client/types.js';
import { ownedJob as findOwnedJob, type ApiContext } from '../context.js';
import { HttpError } from '../errors.js';
import { idempotencyKeyOf, readJson, sendJson, waitMs } from '../http.js';
import { API_PREFIX, type Ctx, type Router } from '../router.js';
import { EventsQuery, IdempotencyKey, JobBody, ListJobsQuery, WaitQuery } from '../schemas.js';
import { redactSecrets } from '../../domain/notifications.js';
import { eventView, jobSummaryView, jobView, notificationView } from '../views.js';

export function registerJobRoutes(r: Router, api: ApiContext): void {
  const { bridge, hub } = api;
  const { maxJson, maxWaitMs } = api.limits;
  const ownedJob = (ctx: Ctx) => findOwnedJob(api, ctx);

  const submit = (ctx: Ctx, definition: unknown): void => {
    const key = idempotencyKeyOf(ctx.req);
    const { job, created } = bridge.submit(ctx.user, definition, key ? { idempotencyKey: key } : {});
    if (!created && JSON.stringify(job.spec) !== JSON.stringify(parseJobSpec(definition))) {
      throw new HttpError('CONFLICT', `Idempotency-Key "${key}" was already used for job ${job.id} with a different definition`, 'Idempotency-Key');
    }
    if (created) hub.created(ctx.user);
    // The whole job, as GET /jobs/{id} shows it: a client that creates in a loop needs no second request.
    sendJson(ctx.res, created ? 201 : 200, jobView(job), { location: `${API_PREFIX}/jobs/${job.id}` });
  };

  r.add(
    {
      method: 'POST',
      path: '/jobs',
      summary: 'Create a job; with Idempotency-Key a retried create answers with the same job (200 instead of 201)',
      auth: true,
      body: JobBody,
      headers: { 'Idempotency-Key': { schema: IdempotencyKey, description: 'makes a retried create return the same job' } },
      responses: { 201: 'Job (the new job, as GET /jobs/{id} shows it)', 200: 'Job created earlier with this Idempotency-Key', 400: 'invalid definition (names the field)', 409: 'Idempotency-Key reused with another definition', 413: 'body too large' },
      handler: async (ctx) => submit(ctx, await readJson(ctx.req, maxJson)),
    },
    {
      method: 'POST',
      path: '/jobs/render',
      summary: 'Validate a definition and show the batch script it becomes, without creating a job',
      auth: true,
      body: JobBody,
      responses: { 200: '{cluster, scheduler, definition, script}', 400: 'invalid definition' },
      handler: async (ctx) => {
        const parsed = parseJobSpec(await readJson(ctx.req, maxJson));
        const cluster = parsed.cluster ?? bridge.settings.daemon.defaultCluster!;
        const rec = bridge.reconciler(cluster);
        if (!rec) throw new BridgeError('INVALID_DEFINITION', `invalid job definition: cluster: no cluster named "${cluster}" is configured`, { context: { field: 'cluster' } });
        // The script shown is the one a submission would get: the user's account included.
        const spec = bridge.applyUserPolicy(ctx.user, cluster, parsed, 'cluster', 'job');
        // The real job id is not known before creation; 0 stands in for it in paths and tag.
        const script = rec.rt.adapter.renderScript(spec, scriptContextFor(rec.rt, bridge.store.instanceId(), { id: 0, attempt: 0, spec }));
        const out: RenderView = { cluster, scheduler: rec.rt.adapter.name, definition: redactSecrets(spec), script };
        sendJson(ctx.res, 200, out);
      },
    },
    {
      method: 'GET',
      path: '/jobs',
      summary: "The caller's jobs, newest first: active ones by default",
      auth: true,
      query: ListJobsQuery,
      responses: { 200: '{jobs: JobSummary[]} (a Job without its definition; GET /jobs/{id} has it)', 400: 'bad filter (names the parameter)' },
      handler: (ctx) => {
        const q = ctx.query as z.infer<typeof ListJobsQuery>;
        const labels: Record<string, string> = {};
        for (const l of q.label ?? []) {
          const i = l.indexOf('=');
          labels[l.slice(0, i)] = l.slice(i + 1);
        }
        const jobs = bridge.list({
          owner: ctx.user,
          scope: q.all ? 'all' : q.completed ? 'completed' : q.status ? 'all' : 'active',
          ...(q.status ? { status: q.status } : {}),
          ...(q.name !== undefined ? { name: q.name } : {}),
          ...(q.label ? { labels } : {}),
          ...(q.limit ? { limit: q.limit } : {}),
          ...(q.before ? { beforeId: q.before } : {}),
          ...(q.workflow ? { workflowId: q.workflow } : {}),
          ...(q.cluster ? { cluster: q.cluster } : {}),
        });
        sendJson(ctx.res, 200, { jobs: jobs.map(jobSummaryView) });
      },
    },
    {
      method: 'GET',
      path: '/me',
      summary: 'The user the token belongs to (the dashboard shows who is signed in)',
      auth: true,
      responses: { 200: '{user}' },
      handler: (ctx) => sendJson(ctx.res, 200, { user: ctx.user }),
    },
    {
      method: 'GET',
      path: '/jobs/counts',
      summary: "How many of the caller's jobs are in each status",
      auth: true,
      responses: { 200: '{counts: {status: n}, total}' },
      handler: (ctx) => {
        const counts = bridge.store.statusCounts(ctx.user);
        sendJson(ctx.res, 200, { counts, total: Object.values(counts).reduce((a, b) => a + b, 0) });
      },
    },
    {
      method: 'GET',
      path: '/jobs/{id}',
      summary: 'Describe a job',
      auth: true,
      responses: { 200: 'Job', 404: "unknown job, or another user's" },
      handler: (ctx) => sendJson(ctx.res, 200, jobView(ownedJob(ctx))),
    },
    {
      method: 'DELETE',
      path: '/jobs/{id}',
      summary: 'Cancel a job; idempotent, and not an error for a job that already ended',
      auth: true,
      responses: { 200: 'Job (cancelRequested is true until the engine has carried it out)', 404: 'unknown job' },
      handler: (ctx) => {
        const job = ownedJob(ctx);
        sendJson(ctx.res, 200, jobView(bridge.cancel(job.id, ctx.user)));
      },
    },
    {
      method: 'POST',
      path: '/jobs/{id}/clone',
      summary: 'Create a new job from the definition of an existing one',
      auth: true,
      headers: { 'Idempotency-Key': { schema: IdempotencyKey, description: 'makes a retried clone return the same job' } },
      responses: { 201: 'Job (the new job)', 404: 'unknown job' },
      handler: (ctx) => submit(ctx, ownedJob(ctx).spec),
    },
    {
      method: 'GET',
      path: '/jobs/{id}/events',
      summary: "A job's state changes, oldest first",
      auth: true,
      query: EventsQuery,
      responses: { 200: '{events: JobEvent[]}', 404: 'unknown job' },
      handler: (ctx) => {
        const job = ownedJob(ctx);
        const q = ctx.query as z.infer<typeof EventsQuery>;
        sendJson(ctx.res, 200, { events: bridge.store.events(job.id, q.after ?? 0, q.limit ?? 1000).map(eventView) });
      },
    },
    {
      method: 'GET',
      path: '/jobs/{id}/notifications',
      summary: "The deliveries of a job's notifications: one per entry of its definition once it has ended",
      auth: true,
      responses: { 200: '{notifications: Notification[]}', 404: 'unknown job' },
      handler: (ctx) => sendJson(ctx.res, 200, { notifications: bridge.store.notifications.forJob(ownedJob(ctx).id).map(notificationView) }),
    },
    {
      method: 'GET',
      path: '/jobs/{id}/wait',
      summary: 'Answer as soon as the job is terminal, or after `timeout` seconds, with the job either way',
      auth: true,
      query: WaitQuery,
      responses: { 200: 'Job (check status: it may still be active after the timeout)', 404: 'unknown job' },
      handler: async (ctx) => {
        const job = ownedJob(ctx);
        const q = ctx.query as z.infer<typeof WaitQuery>;
        const done = await hub.waitTerminal(job, waitMs(q.timeout, maxWaitMs), ctx.signal);
        if (!ctx.res.destroyed) sendJson(ctx.res, 200, jobView(done));
      },
    },
  );
}
