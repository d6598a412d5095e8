/**
 * Transfers with a progress bar on a terminal, and following a task log while the job runs.
 */
import type { Client, Progress } from '../client/index.js';
import { progressBar } from './output.js';

export async function uploadWithProgress(client: Client, name: string, path: string) {
  const bar = progressBar(`upload ${name}`);
  try {
    return await client.uploadArtifact(name, path, bar ? { onProgress: bar.update } : {});
  } finally {
    bar?.stop();
  }
}

export async function downloadWithProgress(client: Client, id: number, name: string, path: string): Promise<void> {
  const bar = progressBar(name);
  try {
    await client.downloadOutputTo(id, name, path, bar ? { onProgress: bar.update as Progress } : {});
  } finally {
    bar?.stop();
  }
}

export async function follow(client: Client, id: number, which: 'stdout' | 'stderr', o: { task?: string; offset?: string; follow?: boolean }): Promise<void> {
  let offset = Number(o.offset ?? 0);
  const task = o.task === undefined ? undefined : Number(o.task);
  for (;;) {
    const chunk = await client.readLog(id, which, { offset, ...(task !== undefined ? { task } : {}) });
    process.stdout.write(chunk.data);
    offset = chunk.nextOffset;
    if (!o.follow || chunk.complete) return;
    if (chunk.data.length === 0) {
      // Nothing new: a one-second long-poll on the job, which also returns at once when it ends.
      const j = await client.waitJob(id, 1);
      if (['completed', 'failed', 'killed', 'deleted'].includes(j.status)) {
        const last = await client.readLog(id, which, { offset, ...(task !== undefined ? { task } : {}) });
        process.stdout.write(last.data);
        if (last.complete || last.data.length === 0) return;
        offset = last.nextOffset;
      }
    }
  }
}
