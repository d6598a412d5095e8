/**
 * Workflows: a DAG of jobs with factories. Each instance is an ordinary job (its id is in the
 * workflow's `jobs`), so stdout, outputs, events and wait work per instance through the job routes.
 */
import type { z } from 'zod';
import { ownedWorkflow as findOwnedWorkflow, type ApiContext } from '../context.js';
import { idempotencyKeyOf, readJson, sendJson, waitMs } from '../http.js';
import type { Ctx, Router } from '../router.js';
import { IdempotencyKey, WaitQuery } from '../schemas.js';
import { WorkflowSpecSchema } from '../../domain/workflowSpec.js';
import { notificationView } from '../views.js';

export function registerWorkflowRoutes(r: Router, api: ApiContext): void {
  const { bridge } = api;
  const { maxJson, maxWaitMs } = api.limits;
  const ownedWorkflow = (ctx: Ctx) => findOwnedWorkflow(api, ctx);

  r.add(
    {
      method: 'POST',
      path: '/workflows',
      summary: 'Create a workflow (jobs, dependencies by exact name, factories, policies)',
      auth: true,
      body: WorkflowSpecSchema,
      headers: { 'Idempotency-Key': { schema: IdempotencyKey, description: 'makes a retried create return the same workflow' } },
      responses: { 201: 'Workflow', 200: 'the workflow created earlier with this Idempotency-Key', 400: 'invalid definition (names the field: unknown job, cycle, unequal zip, ...)', 409: 'Idempotency-Key reused with another definition', 413: 'body too large' },
      handler: async (ctx) => {
        const key = idempotencyKeyOf(ctx.req);
        const wf = bridge.submitWorkflow(ctx.user, await readJson(ctx.req, maxJson), key ? { idempotencyKey: key } : {});
        sendJson(ctx.res, wf.created === false ? 200 : 201, wf);
      },
    },
    {
      method: 'GET',
      path: '/workflows',
      summary: "The caller's workflows, newest first, with status and progress",
      auth: true,
      responses: { 200: '{workflows: Workflow[]}' },
      handler: (ctx) => sendJson(ctx.res, 200, { workflows: bridge.listWorkflows(ctx.user) }),
    },
    {
      method: 'GET',
      path: '/workflows/{id}',
      summary: 'Describe a workflow: status, progress and every instance (name, index, parameters, job id)',
      auth: true,
      responses: { 200: 'Workflow', 404: "unknown workflow, or another user's" },
      handler: (ctx) => {
        const wf = ownedWorkflow(ctx);
        // The edges of the DAG, as written (parent name -> child names), for pictures of it.
        const spec = bridge.store.getWorkflow(wf.id)?.spec as { dependencies?: Record<string, string[]> } | undefined;
        sendJson(ctx.res, 200, { ...wf, dependencies: spec?.dependencies ?? {} });
      },
    },
    {
      method: 'GET',
      path: '/workflows/{id}/notifications',
      summary: "The deliveries of a workflow's notifications: one per entry each time it finishes",
      auth: true,
      responses: { 200: '{notifications: Notification[]}', 404: 'unknown workflow' },
      handler: (ctx) => sendJson(ctx.res, 200, { notifications: bridge.store.notifications.forWorkflow(ownedWorkflow(ctx).id).map(notificationView) }),
    },
    {
      method: 'GET',
      path: '/workflows/{id}/wait',
      summary: 'Answer as soon as every job of the workflow has ended, or after `timeout` seconds',
      auth: true,
      query: WaitQuery,
      responses: { 200: 'Workflow (check status)', 404: 'unknown workflow' },
      handler: async (ctx) => {
        const wf = ownedWorkflow(ctx);
        const q = ctx.query as z.infer<typeof WaitQuery>;
        const done = await bridge.waitWorkflow(wf.id, waitMs(q.timeout, maxWaitMs), ctx.user, ctx.signal);
        if (!ctx.res.destroyed) sendJson(ctx.res, 200, done);
      },
    },
    {
      method: 'DELETE',
      path: '/workflows/{id}',
      summary: 'Cancel every job of the workflow; idempotent',
      auth: true,
      responses: { 200: 'Workflow', 404: 'unknown workflow' },
      handler: (ctx) => sendJson(ctx.res, 200, bridge.deleteWorkflow(ownedWorkflow(ctx).id, ctx.user)),
    },
    {
      method: 'POST',
      path: '/workflows/{id}/rerun',
      summary: 'Run again the jobs that did not complete and all their descendants',
      auth: true,
      responses: { 200: 'Workflow', 404: 'unknown workflow', 409: 'the workflow still has active jobs' },
      handler: (ctx) => sendJson(ctx.res, 200, bridge.rerunWorkflow(ownedWorkflow(ctx).id, ctx.user)),
    },
  );
}
