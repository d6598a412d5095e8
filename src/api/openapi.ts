/**
 * The OpenAPI 3.1 document, generated from the route table and the same zod schemas the
 * handlers validate with (`z.toJSONSchema`, input side: what a client may send).
 */
import { z } from 'zod';
import type { RouteDoc } from './router.js';

function jsonSchema(s: z.ZodType): Record<string, unknown> {
  // Refinements (superRefine) cannot be expressed in JSON Schema; they are described in messages.
  const out = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

export function buildOpenApi(routes: readonly RouteDoc[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = `/api/v1${r.path.replace(/\{(\w+)\*\}/g, '{$1}')}`;
    const parameters: unknown[] = [];
    for (const m of r.path.matchAll(/\{(\w+)\*?\}/g)) {
      parameters.push({ name: m[1], in: 'path', required: true, schema: { type: m[1] === 'id' ? 'integer' : 'string' } });
    }
    if (r.query) {
      const q = jsonSchema(r.query) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        const { description, ...rest } = schema;
        parameters.push({ name, in: 'query', required: q.required?.includes(name) ?? false, schema: rest, ...(description ? { description } : {}), ...(rest.type === 'array' ? { explode: true } : {}) });
      }
    }
    for (const [name, h] of Object.entries(r.headers ?? {})) {
      parameters.push({ name, in: 'header', required: false, description: h.description, schema: jsonSchema(h.schema) });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, description] of Object.entries(r.responses)) {
      const ok = Number(status) < 300;
      responses[status] = ok
        ? { description, ...(Number(status) === 204 ? {} : { content: { [r.produces ?? 'application/json']: {} } }) }
        : { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    if (r.auth) responses['401'] = { description: 'no or bad token', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/\{(\w+)\*?\}/g, 'By_$1').replace(/[^A-Za-z0-9_]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: r.summary,
      parameters,
      responses,
      security: r.auth ? [{ bearer: [] }] : [],
    };
    if (r.body === 'binary') op.requestBody = { required: true, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } };
    else if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'hpc-bridge', version: '1', description: 'Run job definitions on Slurm, PBS and direct clusters. Errors are {error: {code, message, field?}}.' },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token from `hpc-bridge token create --user NAME`' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                field: { type: 'string', description: 'the request field or parameter at fault' },
                problems: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
              },
            },
          },
        },
      },
    },
  };
}
