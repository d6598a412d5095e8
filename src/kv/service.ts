/**
 * The per-user key-value store: the rules over store.kv, shared by the HTTP routes and the
 * relay of in-job requests. A user is a namespace: every call names the owner, and nothing
 * here takes a key of one owner and answers with another's. There is no administrator view;
 * an operator who needs one reads the database.
 */
import { BridgeError } from '../domain/errors.js';
import type { KvConfig } from '../settings/schema.js';
import type { KvEntry, KvKeyInfo, KvTables } from '../store/kv.js';
import { keyProblem, prefixProblem } from './keys.js';

export interface KvWritten {
  key: string;
  size: number;
  updatedAt: number;
  created: boolean;
}

export class KeyValueService {
  constructor(
    private readonly rows: KvTables,
    readonly limits: KvConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** Why `key` is refused, or undefined (routes answer it with the field named). */
  keyProblem(key: string): string | undefined {
    return keyProblem(key, this.limits.maxKeyBytes);
  }

  prefixProblem(prefix: string): string | undefined {
    return prefixProblem(prefix, this.limits.maxKeyBytes);
  }

  get(owner: string, key: string): KvEntry {
    this.checkKey(key);
    const e = this.rows.get(owner, key);
    if (!e) throw new BridgeError('NOT_FOUND', `key "${key}" not found`, { context: { field: 'key' } });
    return e;
  }

  /**
   * Store `value` under `key`. With `prev`, only if the current value is exactly `prev`
   * (compare-and-swap: two jobs racing for one key cannot both win).
   */
  set(owner: string, key: string, value: Buffer, prev?: Buffer): KvWritten {
    this.checkKey(key);
    const { maxValueBytes, maxKeysPerUser } = this.limits;
    if (value.length > maxValueBytes) {
      throw new BridgeError('TOO_LARGE', `value of ${value.length} bytes is larger than the limit of ${maxValueBytes} (daemon.kv.maxValueBytes)`, { context: { field: 'value' } });
    }
    const at = this.now();
    const r = this.rows.put(owner, key, value, at, maxKeysPerUser, prev);
    if (r === 'full') {
      throw new BridgeError('CONFLICT', `user "${owner}" already holds ${maxKeysPerUser} keys, the limit (daemon.kv.maxKeysPerUser); delete some before adding "${key}"`, { context: { field: 'key' } });
    }
    if (r === 'mismatch') {
      throw new BridgeError('CONFLICT', `key "${key}" does not hold the value given as prev (it changed, or does not exist); nothing was written`, { context: { field: 'prev' } });
    }
    return { key, size: value.length, updatedAt: at, created: r === 'created' };
  }

  list(owner: string, opts: { prefix?: string; after?: string; limit?: number } = {}): KvKeyInfo[] {
    const prefix = opts.prefix ?? '';
    this.checkPrefix(prefix);
    return this.rows.list(owner, prefix, opts.after ?? '', opts.limit ?? 1000);
  }

  listValues(owner: string, opts: { prefix?: string; after?: string; limit?: number } = {}): KvEntry[] {
    const prefix = opts.prefix ?? '';
    this.checkPrefix(prefix);
    return this.rows.listValues(owner, prefix, opts.after ?? '', opts.limit ?? 1000);
  }

  delete(owner: string, key: string): void {
    this.checkKey(key);
    if (!this.rows.delete(owner, key)) throw new BridgeError('NOT_FOUND', `key "${key}" not found`, { context: { field: 'key' } });
  }

  /** Every key starting with a non-empty `prefix`; how many there were. */
  deletePrefix(owner: string, prefix: string): number {
    if (prefix === '') throw new BridgeError('INVALID_DEFINITION', 'prefix: must not be empty (deleting every key takes an explicit prefix per group of keys)', { context: { field: 'prefix' } });
    this.checkPrefix(prefix);
    return this.rows.deletePrefix(owner, prefix);
  }

  private checkKey(key: string): void {
    const p = this.keyProblem(key);
    if (p) throw new BridgeError('INVALID_DEFINITION', `key: ${p}`, { context: { field: 'key' } });
  }

  private checkPrefix(prefix: string): void {
    const p = this.prefixProblem(prefix);
    if (p) throw new BridgeError('INVALID_DEFINITION', `prefix: ${p}`, { context: { field: 'prefix' } });
  }
}
