/**
 * How failures become HTTP answers: one table from error code to status, and one body shape,
 * `{error: {code, message, field?, problems?}}`. Codes are the daemon's BridgeError codes plus
 * a few that only exist at the HTTP layer (a malformed query, a wrong method, a bad range).
 */
import { BridgeError, type ErrorCode } from '../domain/errors.js';
import type { ErrorBody } from '../client/types.js';

export type HttpOnlyCode = 'INVALID_REQUEST' | 'METHOD_NOT_ALLOWED' | 'RANGE_NOT_SATISFIABLE' | 'UNAVAILABLE' | 'TOO_MANY_STREAMS_PER_USER' | 'TOO_MANY_STREAMS';
export type ApiErrorCode = ErrorCode | HttpOnlyCode;

/** The single place that decides statuses. */
export const HTTP_STATUS: Record<ApiErrorCode, number> = {
  INVALID_DEFINITION: 400,
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404, // also another user's ids: existence is not disclosed
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  STALE_STATE: 409,
  TOO_LARGE: 413,
  RANGE_NOT_SATISFIABLE: 416,
  TOO_MANY_STREAMS_PER_USER: 429, // open event streams of one user at the cap
  TOO_MANY_STREAMS: 429, // open event streams of the whole daemon at the cap
  SUBMIT_REJECTED: 422, // the scheduler refused this definition; retrying the same one will not help
  INVALID_CONFIG: 500,
  INTERNAL: 500,
  PARSE_ERROR: 502, // the cluster answered something we could not understand
  REMOTE_IO: 502,
  SSH_CONNECT: 503,
  SSH_HOST_KEY: 503,
  SSH_AUTH: 503,
  CONNECTION_LOST: 503,
  COMMAND_TIMEOUT: 503,
  CHANNEL_OPEN: 503,
  SCHEDULER_ERROR: 503,
  CLUSTER_UNAVAILABLE: 503,
  NO_SPACE: 507, // Insufficient Storage: the daemon's disk is full; retry once space is freed
  UNAVAILABLE: 503,
};

export class HttpError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function toHttp(e: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (e instanceof HttpError) {
    return { status: HTTP_STATUS[e.code], headers: e.headers, body: { error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) } } };
  }
  if (e instanceof BridgeError) {
    // A definition that is not an object at all has no field inside it: the request body is at fault.
    const asBody = (f: string) => (f === '(definition)' ? 'body' : f);
    const field = typeof e.context.field === 'string' ? asBody(e.context.field) : undefined;
    const problems = Array.isArray(e.context.problems) ? (e.context.problems as { field: string; message: string }[]).map((p) => ({ ...p, field: asBody(p.field) })) : undefined;
    const status = HTTP_STATUS[e.code] ?? 500;
    // Internal errors keep their detail in the log, not in the answer.
    const message = status >= 500 && !e.transient && e.code === 'INTERNAL' ? 'internal error' : e.message;
    return { status, headers: {}, body: { error: { code: e.code, message, ...(field ? { field } : {}), ...(problems ? { problems } : {}) } } };
  }
  return { status: 500, headers: {}, body: { error: { code: 'INTERNAL', message: 'internal error' } } };
}
