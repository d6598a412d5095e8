/**
 * Request schemas of the HTTP API. The handlers validate with these, and openapi.ts renders
 * the same objects with `z.toJSONSchema`, so the document cannot disagree with the server.
 * Query schemas take strings (that is what a URL carries) and coerce them.
 */
import { z } from 'zod';
import { JobSpecSchema } from '../domain/jobSpec.js';
import { PUBLIC_STATUSES } from '../domain/state.js';

const bool = z.stringbool();
const jobIdParam = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const IdParams = z.strictObject({ id: jobIdParam });

/** `label=key=value`, repeatable: every given label must match. */
const labelParam = z.string().regex(/^[A-Za-z0-9_.-]{1,64}=[^\0\n\r]*$/, 'must look like key=value');

export const ListJobsQuery = z.strictObject({
  completed: bool.optional().describe('only jobs that have ended'),
  all: bool.optional().describe('active and ended jobs'),
  status: z.enum(PUBLIC_STATUSES).optional(),
  name: z.string().max(256).optional().describe('exact job name'),
  label: z.array(labelParam).max(32).optional().describe('key=value, repeatable; all must match'),
  limit: z.coerce.number().int().min(1).max(10000).optional(),
  before: z.coerce.number().int().min(1).optional().describe('only ids below this (paging, newest first)'),
  workflow: z.coerce.number().int().min(1).optional().describe('only jobs of this workflow'),
  cluster: z.string().max(256).optional().describe('only jobs on this cluster'),
});

export const ListArtifactsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(10000).optional().describe('at most this many (default 1000)'),
  after: z.string().max(1024).optional().describe('only names sorting after this one (paging)'),
});

export const WaitQuery = z.strictObject({
  timeout: z.coerce.number().min(0).max(86400).optional().describe('seconds; the server caps it (see maxWaitSeconds)'),
});

export const EventsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).optional().describe('only events with an id above this'),
  limit: z.coerce.number().int().min(1).max(10000).optional(),
});

export const StreamQuery = z.strictObject({
  lastEventId: z.coerce.number().int().min(0).optional().describe('resume after this event id (the Last-Event-ID header wins)'),
});

export const LogQuery = z.strictObject({
  offset: z.coerce.number().int().min(0).optional(),
  task: z.coerce.number().int().min(0).max(1000).optional(),
  maxBytes: z.coerce.number().int().min(1).max(16 << 20).optional(),
});

export const SnapshotQuery = z.strictObject({
  // Optional here so that the job's owner is checked before the request is: a missing path is
  // refused by the handler (400, naming it) only for a job of the caller's.
  path: z.string().max(4096).optional().describe('required: a file of the job directory, relative to it (no "..", not absolute)'),
});

export const ExecBody = z.strictObject({
  argv: z.array(z.string()).min(1).max(256).describe('the program and its arguments, run without a shell'),
  timeoutSeconds: z.number().int().min(1).optional().describe("time limit (default 60, at most the daemon's limits.execSeconds)"),
});

/** Artifact names: one path segment, no hidden files, nothing a shell or a URL trips over. */
export const ArtifactName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}$/, 'may contain only letters, digits, _ . + - and must not start with . or -');

const kvPrefix = z.string().max(1024).describe('only keys starting with this');

export const KvListQuery = z.strictObject({
  prefix: kvPrefix.optional(),
  after: z.string().max(1024).optional().describe('only keys sorting after this one (paging)'),
  limit: z.coerce.number().int().min(1).max(10000).optional().describe('at most this many (default 1000)'),
  values: bool.optional().describe('include each value (UTF-8 text as value, other bytes as valueBase64)'),
  format: z.enum(['json', 'text']).optional().describe('text: the keys alone, one a line'),
});

export const KvPutQuery = z.strictObject({
  prev: z.string().max(16 << 20).optional().describe('write only if the key now holds exactly this (UTF-8) value'),
});

export const KvDeleteQuery = z.strictObject({
  prefix: kvPrefix.min(1, 'must not be empty'),
});

export const JobBody = JobSpecSchema;

export const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,200}$/, 'must be 1 to 200 visible ASCII characters');
export const Sha256Header = z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits');

export type Query = Record<string, string | string[]>;

/** URLSearchParams to a plain object: keys whose schema is an array keep every value. */
export function queryObject(params: URLSearchParams, schema: z.ZodObject): Query {
  const out: Query = {};
  for (const key of new Set(params.keys())) {
    const field = schema.shape[key];
    const values = params.getAll(key);
    out[key] = field && isArraySchema(field) ? values : values[values.length - 1]!;
  }
  return out;
}

function isArraySchema(s: z.ZodType): boolean {
  let cur: z.ZodType = s;
  while (cur instanceof z.ZodOptional || cur instanceof z.ZodDefault) cur = cur.unwrap() as z.ZodType;
  return cur instanceof z.ZodArray;
}
