/**
 * The route table: each route module adds its routes here, and the same table is what requests
 * are matched against and what the OpenAPI document is generated from (openapi.ts), so the two
 * cannot disagree.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { BridgeError } from '../domain/errors.js';
import { HttpError } from './errors.js';
import { parseWith } from './http.js';
import { queryObject } from './schemas.js';

export const API_PREFIX = '/api/v1';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  query: Record<string, unknown>;
  user: string;
  /** Aborted when the client goes away before the answer is complete. */
  signal: AbortSignal;
}

export interface RouteDoc {
  method: Method;
  /** Relative to /api/v1; `{name}` is one segment, `{name*}` the rest of the path. */
  path: string;
  summary: string;
  auth: boolean;
  /** Also accepts a running job's key-value credential (src/auth/jobTokens.ts); other routes refuse one. */
  jobCredential?: boolean;
  query?: z.ZodObject;
  body?: z.ZodType | 'binary';
  headers?: Record<string, { schema: z.ZodType; description: string }>;
  responses: Record<number, string>;
  /** Content type of the success answer when it is not JSON. */
  produces?: string;
}

/** What a route module adds: its documentation and its handler. */
export interface RouteDef extends RouteDoc {
  handler(ctx: Ctx): Promise<void> | void;
}

interface Route extends RouteDef {
  re: RegExp;
  names: string[];
}

/** What the router learned about a request, for the access log and the metrics. */
export interface RequestState {
  user?: string;
  route?: string;
}

export class Router {
  private readonly table: Route[] = [];
  readonly docs: RouteDoc[] = [];

  /** @param authenticate the user behind a request's token for this route; throws UNAUTHORIZED. */
  constructor(private readonly authenticate: (req: IncomingMessage, route: RouteDoc) => string) {}

  add(...defs: RouteDef[]): void {
    for (const d of defs) {
      const names: string[] = [];
      const pattern = d.path.replace(/\{(\w+)(\*?)\}/g, (_m, n: string, star: string) => {
        names.push(n);
        return star ? '(.+)' : '([^/]+)';
      });
      this.table.push({ ...d, names, re: new RegExp(`^${pattern}$`) });
      this.docs.push(d);
    }
  }

  async dispatch(req: IncomingMessage, res: ServerResponse, url: URL, state: RequestState, signal: AbortSignal): Promise<void> {
    if (!url.pathname.startsWith(`${API_PREFIX}/`)) throw new BridgeError('NOT_FOUND', `no such endpoint: ${url.pathname}`);
    const rel = url.pathname.slice(API_PREFIX.length);
    let pathMatched = false;
    for (const r of this.table) {
      const m = r.re.exec(rel);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== req.method) continue;
      state.route = r.path;
      // The token first: without one, nothing about the request is looked at (not even its parameters).
      if (r.auth) state.user = this.authenticate(req, r);
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => {
        try {
          params[n] = decodeURIComponent(m[i + 1]!);
        } catch {
          throw new HttpError('INVALID_REQUEST', `${n}: is not valid percent-encoding`, n);
        }
      });
      const query = r.query ? parseWith(r.query, queryObject(url.searchParams, r.query), 'query') : {};
      await r.handler({ req, res, url, params, query, user: state.user ?? '', signal });
      return;
    }
    if (pathMatched) {
      const allowed = this.table.filter((r) => r.re.test(rel)).map((r) => r.method);
      throw new HttpError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`, undefined, { allow: [...new Set(allowed)].join(', ') });
    }
    throw new BridgeError('NOT_FOUND', `no such endpoint: ${url.pathname}`);
  }
}
