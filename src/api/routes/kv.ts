/**
 * The caller's key-value store (src/kv/service.ts). Keys are in the path, values are the raw
 * request and answer bodies (bytes, any content). Each user sees only their own keys: another
 * user's key is answered exactly like a key that does not exist. These routes, and no others,
 * also accept a running job's credential, which acts as the job's owner.
 */
import type { z } from 'zod';
import type { KvEntryView, KvKeyView } from '../../client/types.js';
import type { KvEntry, KvKeyInfo } from '../../store/kv.js';
import type { ApiContext } from '../context.js';
import { HttpError } from '../errors.js';
import { readBody, sendJson } from '../http.js';
import type { Ctx, Router } from '../router.js';
import { KvDeleteQuery, KvListQuery, KvPutQuery } from '../schemas.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function keyView(k: KvKeyInfo): KvKeyView {
  return { key: k.key, size: k.size, updatedAt: new Date(k.updatedAt).toISOString() };
}

/** A value as JSON: text when it is UTF-8, else base64 (`valueBase64`), so no byte is lost. */
function entryView(e: KvEntry): KvEntryView {
  const base = { key: e.key, size: e.value.length, updatedAt: new Date(e.updatedAt).toISOString() };
  try {
    return { ...base, value: utf8.decode(e.value) };
  } catch {
    return { ...base, valueBase64: e.value.toString('base64') };
  }
}

export function registerKvRoutes(r: Router, api: ApiContext): void {
  const kv = api.bridge.kv;
  const keyOf = (ctx: Ctx): string => {
    // The path was normalised when it was parsed (`a/./b` became `a/b`): refuse what it had to
    // rewrite, so one key has one spelling.
    if ((ctx.req.url ?? '').split('?')[0] !== ctx.url.pathname) {
      throw new HttpError('INVALID_REQUEST', 'key: must not contain "." or ".." segments or backslashes', 'key');
    }
    const key = ctx.params.key!;
    const problem = kv.keyProblem(key);
    if (problem) throw new HttpError('INVALID_REQUEST', `key: ${problem}`, 'key');
    return key;
  };
  const prefixOf = (prefix: string | undefined): string => {
    const problem = kv.prefixProblem(prefix ?? '');
    if (problem) throw new HttpError('INVALID_REQUEST', `prefix: ${problem}`, 'prefix');
    return prefix ?? '';
  };

  r.add(
    {
      method: 'GET',
      path: '/kv',
      summary: "The caller's keys in byte order, optionally under a prefix and with their values; paged with limit and after=<last key>. format=text: the keys alone, one a line",
      auth: true,
      jobCredential: true,
      query: KvListQuery,
      responses: { 200: '{keys: KvKey[]} (KvEntry[] with values=true), or text/plain with format=text', 400: 'bad prefix or paging parameter' },
      handler: (ctx) => {
        const q = ctx.query as z.infer<typeof KvListQuery>;
        const opts = { prefix: prefixOf(q.prefix), after: q.after ?? '', limit: q.limit ?? 1000 };
        if (q.format === 'text') {
          const text = kv.list(ctx.user, opts).map((k) => `${k.key}\n`).join('');
          ctx.res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' }).end(text);
          return;
        }
        const keys = q.values ? kv.listValues(ctx.user, opts).map(entryView) : kv.list(ctx.user, opts).map(keyView);
        sendJson(ctx.res, 200, { keys });
      },
    },
    {
      method: 'GET',
      path: '/kv/{key*}',
      summary: 'The value of one key, as its bytes',
      auth: true,
      jobCredential: true,
      responses: { 200: 'the value (application/octet-stream)', 400: 'bad key', 404: 'no such key' },
      produces: 'application/octet-stream',
      handler: (ctx) => {
        const e = kv.get(ctx.user, keyOf(ctx));
        ctx.res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': e.value.length, 'last-modified': new Date(e.updatedAt).toUTCString(), 'cache-control': 'no-store' }).end(e.value);
      },
    },
    {
      method: 'PUT',
      path: '/kv/{key*}',
      summary: 'Store the request body as the value of a key; with prev=<value>, only if the key holds exactly that value now (compare-and-swap)',
      auth: true,
      jobCredential: true,
      query: KvPutQuery,
      body: 'binary',
      responses: { 200: 'KvKey (replaced)', 201: 'KvKey (created)', 400: 'bad key', 409: 'the user holds the most keys allowed, or prev did not match', 413: 'value too large' },
      handler: async (ctx) => {
        const key = keyOf(ctx);
        const q = ctx.query as z.infer<typeof KvPutQuery>;
        const max = kv.limits.maxValueBytes;
        const tooLarge = (size?: number) =>
          new HttpError('TOO_LARGE', `value${size === undefined ? '' : ` of ${size} bytes`} is larger than the limit of ${max} (daemon.kv.maxValueBytes)`, 'value', { connection: 'close' });
        const declared = Number(ctx.req.headers['content-length'] ?? NaN);
        // readBody reads (and drops) an oversized body before refusing, so the client gets the answer.
        const value = await readBody(ctx.req, max).catch((e: unknown) => {
          throw e instanceof HttpError && e.code === 'TOO_LARGE' ? tooLarge(Number.isFinite(declared) ? declared : undefined) : e;
        });
        const w = kv.set(ctx.user, key, value, q.prev === undefined ? undefined : Buffer.from(q.prev, 'utf8'));
        sendJson(ctx.res, w.created ? 201 : 200, { key: w.key, size: w.size, updatedAt: new Date(w.updatedAt).toISOString() } satisfies KvKeyView);
      },
    },
    {
      method: 'DELETE',
      path: '/kv/{key*}',
      summary: 'Delete one key',
      auth: true,
      jobCredential: true,
      responses: { 204: 'deleted', 400: 'bad key', 404: 'no such key' },
      handler: (ctx) => {
        kv.delete(ctx.user, keyOf(ctx));
        ctx.res.writeHead(204).end();
      },
    },
    {
      method: 'DELETE',
      path: '/kv',
      summary: 'Delete every key that starts with prefix (which must not be empty)',
      auth: true,
      jobCredential: true,
      query: KvDeleteQuery,
      responses: { 200: '{deleted: number}', 400: 'missing or bad prefix' },
      handler: (ctx) => {
        const q = ctx.query as z.infer<typeof KvDeleteQuery>;
        sendJson(ctx.res, 200, { deleted: kv.deletePrefix(ctx.user, prefixOf(q.prefix)) });
      },
    },
  );
}
