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
  const offset = Number(o.offset ?? 0);
  const task = o.task === undefined ? undefined : Number(o.task);
  if (!o.follow) {
    process.stdout.write((await client.readLog(id, which, { offset, ...(task !== undefined ? { task } : {}) })).data);
    return;
  }
  // The SDK's follower resumes at the byte offset it reached, through daemon restarts.
  for await (const chunk of client.followLog(id, which, { offset, ...(task !== undefined ? { task } : {}) })) process.stdout.write(chunk.data);
}
