/**
 * The key-value store of the token's user: small values that jobs and scripts share (a best
 * score so far, a flag that tells a sweep to stop). From a laptop it is `client.kv`; inside a
 * job on a cluster that reaches the daemon, `KeyValueStore.fromJob()` uses the job's own
 * credential, which works only for these calls and only while the job runs.
 *
 *   await client.kv.set('sweep/best', '0.93');
 *   const best = await client.kv.getText('sweep/best');
 *   for (const k of await client.kv.list({ prefix: 'sweep/' })) console.log(k.key, k.size);
 */
import { readFileSync } from 'node:fs';
import { Client, getDefaultClient } from './client.js';
import { HpcBridgeError } from './errors.js';
import type { KvEntryView, KvKeyView } from './types.js';

/** Each segment encoded, the slashes kept: the daemon reads the key from the rest of the path. */
const keyPath = (key: string) => `/kv/${key.split('/').map(encodeURIComponent).join('/')}`;

export class KeyValueStore {
  constructor(private readonly client: Client = getDefaultClient()) {}

  /**
   * Inside a running job: the daemon's URL and the job's credential from the environment the
   * bridge gives the job (HPCB_KV_URL, HPCB_KV_TOKEN_FILE). Only on clusters whose jobs reach
   * the daemon; elsewhere use the `$HPCB_KV` helper, which relays through files.
   */
  static fromJob(env: NodeJS.ProcessEnv = process.env): KeyValueStore {
    const url = env.HPCB_KV_URL;
    const file = env.HPCB_KV_TOKEN_FILE;
    if (!url || !file) {
      throw new HpcBridgeError('NO_KV_URL', "this job has no direct route to the daemon (HPCB_KV_URL is unset: the cluster relays key-value requests through files; use the $HPCB_KV helper)", 0);
    }
    return new KeyValueStore(new Client({ url, token: readFileSync(file, 'utf8').trim() }));
  }

  /**
   * Store `value` (text is stored as UTF-8). With `prev`, only if the key holds exactly that
   * now, else a CONFLICT error (compare-and-swap; such a write is not retried, since a retry
   * after a lost answer would find its own value and fail).
   */
  async set(key: string, value: string | Uint8Array, opts: { prev?: string } = {}): Promise<KvKeyView> {
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    return this.client.call<KvKeyView>('PUT', keyPath(key), {
      body,
      headers: { 'content-type': 'application/octet-stream' },
      ...(opts.prev !== undefined ? { query: { prev: opts.prev }, retry: false } : {}),
    });
  }

  /** The value's bytes; a NOT_FOUND error when there is no such key. */
  async get(key: string): Promise<Buffer> {
    const path = keyPath(key);
    const res = await this.client.request('GET', path);
    return Buffer.from(await res.arrayBuffer());
  }

  async getText(key: string): Promise<string> {
    return (await this.get(key)).toString('utf8');
  }

  /** Keys (without values) in byte order; page with `after` (the last key of the previous page). */
  async list(opts: { prefix?: string; after?: string; limit?: number } = {}): Promise<KvKeyView[]> {
    return (await this.client.call<{ keys: KvKeyView[] }>('GET', '/kv', { query: { prefix: opts.prefix, after: opts.after, limit: opts.limit } })).keys;
  }

  /** As list, with each value (`value` for UTF-8 text, else `valueBase64`). */
  async entries(opts: { prefix?: string; after?: string; limit?: number } = {}): Promise<KvEntryView[]> {
    return (await this.client.call<{ keys: KvEntryView[] }>('GET', '/kv', { query: { prefix: opts.prefix, after: opts.after, limit: opts.limit, values: true } })).keys;
  }

  /** Remove a key; a NOT_FOUND error when there is none. */
  async delete(key: string): Promise<void> {
    await this.client.request('DELETE', keyPath(key));
  }

  /** Remove every key starting with `prefix` (not empty); how many there were. */
  async deletePrefix(prefix: string): Promise<number> {
    return (await this.client.call<{ deleted: number }>('DELETE', '/kv', { query: { prefix } })).deleted;
  }
}
