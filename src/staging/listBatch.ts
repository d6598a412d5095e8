/**
 * Listings of jobs whose stage-outs start together share one remote program: a spawn costs the
 * daemon's thread several milliseconds and the login node a bash, and trivial jobs finish by
 * the hundred. Requests queue per transport; while one listing runs the next ones gather, and
 * each job gets back the result of its own part as if it had been listed alone.
 */
import type { ExecResult, Transport } from '../transport/transport.js';
import { listOutputsProgram, splitListOutputs, type ListItem } from './remote.js';

/** Jobs per listing: bounded so one command stays well inside its timeout. */
const LIST_BATCH = 50;

interface Request {
  item: ListItem;
  resolve: (r: ExecResult) => void;
  reject: (e: unknown) => void;
}

export class ListBatcher {
  private readonly queues = new Map<Transport, Request[]>();

  constructor(private readonly timeoutMs: number) {}

  /**
   * A job that packs output directories is listed alone: packing can take long, and the jobs
   * batched with it would wait on it and share its timeout.
   */
  list(transport: Transport, item: ListItem): Promise<ExecResult> {
    if (item.dirs.length > 0) return this.run(transport, [item]).then((m) => m.get(item.key)!);
    return new Promise((resolve, reject) => {
      const q = this.queues.get(transport);
      if (q) {
        q.push({ item, resolve, reject });
        return;
      }
      this.queues.set(transport, [{ item, resolve, reject }]);
      // Let the stage-outs started in the same turn join the first listing.
      setImmediate(() => void this.drain(transport));
    });
  }

  private async drain(transport: Transport): Promise<void> {
    for (;;) {
      const q = this.queues.get(transport) ?? [];
      const batch = q.splice(0, LIST_BATCH);
      if (batch.length === 0) {
        this.queues.delete(transport);
        return;
      }
      try {
        const results = await this.run(transport, batch.map((r) => r.item));
        for (const r of batch) r.resolve(results.get(r.item.key)!);
      } catch (e) {
        for (const r of batch) r.reject(e);
      }
    }
  }

  private async run(transport: Transport, items: readonly ListItem[]): Promise<Map<string, ExecResult>> {
    const res = await transport.exec(listOutputsProgram(items), { timeoutMs: this.timeoutMs });
    const parts = splitListOutputs(res.stdout);
    return new Map(items.map((it) => [it.key, { ...res, stdout: parts.get(it.key) ?? '' }]));
  }
}
