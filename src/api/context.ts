/**
 * What every route module is given: the bridge, the event hub, the metrics, the staging service
 * and the request limits, decided once in buildApp (app.ts).
 */
import type { ServerResponse } from 'node:http';
import type { Bridge } from '../bridge.js';
import { BridgeError } from '../domain/errors.js';
import type { Metrics } from '../ops/metrics.js';
import type { StagingService } from '../staging/service.js';
import type { JobRecord } from '../store/store.js';
import type { EventHub } from './hub.js';
import { parseWith } from './http.js';
import type { Ctx } from './router.js';
import { IdParams } from './schemas.js';

export interface ApiLimits {
  /** Largest JSON request body. */
  maxJson: number;
  /** Largest artifact upload. */
  maxArtifact: number;
  /** Longest single long-poll. */
  maxWaitMs: number;
  /** Largest log chunk per request. */
  maxLog: number;
  /** Interval of the comment lines that keep idle event streams alive. */
  keepaliveMs: number;
}

export interface ApiContext {
  bridge: Bridge;
  hub: EventHub;
  metrics: Metrics;
  limits: ApiLimits;
  /** Artifacts, outputs and logs. */
  staging(): StagingService;
  /** Open event streams, ended by App.close(). */
  streams: Set<ServerResponse>;
}

/** The job named by the `{id}` of the path, if the caller owns it (else NOT_FOUND: existence is not disclosed). */
export function ownedJob(api: ApiContext, ctx: Ctx): JobRecord {
  const { id } = parseWith(IdParams, { id: ctx.params.id }, 'id');
  const job = api.bridge.get(id, ctx.user);
  if (!job) throw new BridgeError('NOT_FOUND', `job ${id} not found`, { context: { jobId: id } });
  return job;
}

/** The workflow named by the `{id}` of the path, if the caller owns it. */
export function ownedWorkflow(api: ApiContext, ctx: Ctx) {
  const { id } = parseWith(IdParams, { id: ctx.params.id }, 'id');
  const wf = api.bridge.getWorkflow(id, ctx.user);
  if (!wf) throw new BridgeError('NOT_FOUND', `workflow ${id} not found`, { context: { workflowId: id } });
  return wf;
}
