/**
 * The bridge's tag on every scheduler job, used as the job name. It names the database
 * instance (ids restart with a new database), the bridge job id and the submission attempt,
 * so a job can be found in the queue or in accounting even if its recorded id was lost.
 * Only [a-z0-9-]: safe as a job name for every supported scheduler (an adapter whose scheduler
 * limits the length shortens it itself; see adapters/).
 */
export function jobTag(instance: string, jobId: number, attempt: number): string {
  return `hb${instance}-${jobId}-${attempt}`;
}

export function parseTag(name: string | undefined): { instance: string; jobId: number; attempt: number } | undefined {
  if (!name) return undefined;
  const m = /^hb([0-9a-f]{6})-(\d+)-(\d+)$/.exec(name);
  if (!m) return undefined;
  return { instance: m[1]!, jobId: Number(m[2]), attempt: Number(m[3]) };
}
