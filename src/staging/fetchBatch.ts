/**
 * Small outputs and logs of jobs whose stage-outs run together come back in one stream: a
 * sweep's elements end by the hundred, and per file SFTP costs an open, a read and a close
 * round trip (a trivial job has two logs and an output). Requests queue per transport; while
 * one fetch runs the next ones gather, and each caller gets the bytes of its own file. A
 * transport that reads files in-process (the local one) answers without a program.
 */
import { fetchProgram, parseFetch } from '../jobdir/bulk.js';
import type { Transport } from '../transport/transport.js';

/** Files above this size go by SFTP, streamed to disk (a fetch is held in memory, base64). */
export const SMALL_FILE_BYTES = 1 << 20;
/** Bounds of one fetch: its files and their listed bytes. */
const MAX_FILES = 500;
const MAX_BYTES = 32 << 20;

/** The file's bytes; 'other' when it is no longer a regular file; undefined when it vanished. */
export type Fetched = Buffer | 'other' | undefined;

interface Request {
  path: string;
  size: number;
  resolve: (r: Fetched) => void;
  reject: (e: unknown) => void;
}

export class FetchBatcher {
  private readonly queues = new Map<Transport, Request[]>();
  /** Fetch programs run (for tests and the benchmark); in-process reads are counted apart. */
  fetches = 0;
  /** Batches read in-process by a transport that can (`readFiles`: the local one). */
  reads = 0;

  constructor(private readonly timeoutMs: number) {}

  /** `path` (absolute, listed on the cluster) of about `size` bytes. */
  fetch(transport: Transport, path: string, size: number): Promise<Fetched> {
    return new Promise((resolve, reject) => {
      const q = this.queues.get(transport);
      if (q) {
        q.push({ path, size, resolve, reject });
        return;
      }
      this.queues.set(transport, [{ path, size, resolve, reject }]);
      // Let the requests made in the same turn (every stage-out that started together) join.
      setImmediate(() => void this.drain(transport));
    });
  }

  private async drain(transport: Transport): Promise<void> {
    for (;;) {
      const q = this.queues.get(transport) ?? [];
      let bytes = 0;
      let n = 0;
      while (n < q.length && n < MAX_FILES && (n === 0 || bytes + q[n]!.size <= MAX_BYTES)) bytes += q[n++]!.size;
      const batch = q.splice(0, n);
      if (batch.length === 0) {
        this.queues.delete(transport);
        return;
      }
      try {
        const paths = [...new Set(batch.map((r) => r.path))];
        const read = await transport.readFiles?.(paths);
        if (read) this.reads++;
        const got = read ?? (await this.fetchByProgram(transport, paths));
        for (const r of batch) r.resolve(got.get(r.path));
      } catch (e) {
        for (const r of batch) r.reject(e);
      }
    }
  }

  private async fetchByProgram(transport: Transport, paths: string[]): Promise<Map<string, Buffer | 'other'>> {
    this.fetches++;
    return parseFetch((await transport.exec(fetchProgram(paths), { timeoutMs: this.timeoutMs })).stdout);
  }
}
