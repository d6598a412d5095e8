/**
 * Adopting a job whose submission had an unknown outcome, from the job's own testimony: the
 * runner writes the scheduler's id of the job to `.hpcb/native_id` when it starts (each array
 * element to `.hpcb/<k>/native_id`), so a job that ran and already left the queue is still
 * found, and never submitted a second time.
 */
import { BridgeError } from '../../domain/errors.js';
import { elementsProgram, evidenceProgram, parseElementTestimony, parseEvidenceOutput, type EvidenceItem } from '../../jobdir/evidence.js';
import type { JobRecord } from '../../store/store.js';
import { batchOk, exec, jobDir, move, retryBatchLater, type StepContext } from '../context.js';

export function adopt(ctx: StepContext, job: JobRecord, nativeId: string, why: string): void {
  move(ctx, job, ['submitting'], 'queued', { nativeId, submittedAt: job.submittedAt ?? ctx.now() }, `submitted (${why})`, { nativeId });
}

/**
 * For jobs not found in the queue by their tag. Returns false if the job directories could not
 * be read (then nothing is resubmitted this tick).
 */
export async function adoptByTestimony(ctx: StepContext, jobs: JobRecord[]): Promise<boolean> {
  const items: EvidenceItem[] = jobs.map((j) => ({ key: String(j.id), jobDir: jobDir(ctx, j), taskCount: 0 }));
  try {
    const r = await exec(ctx, evidenceProgram(items));
    if (r.exitCode !== 0) throw new BridgeError('REMOTE_IO', 'reading job directories failed', { transient: true, context: { cluster: ctx.rt.name, exitCode: r.exitCode, stderr: r.stderr } });
    const ev = parseEvidenceOutput(r.stdout, items);
    for (const job of jobs) {
      const e = ev.get(String(job.id));
      if (!e?.complete) {
        // Output cut short: wait rather than risk a second submission.
        ctx.store.update(job.id, ['submitting'], { retryAt: ctx.now() + 1000 });
        continue;
      }
      if (e.nativeId) adopt(ctx, job, e.nativeId, 'the job recorded its own id when it started');
    }
    // A carrier has no native_id of its own; one element that started is proof the array was
    // accepted, whichever elements have already left the queue.
    const carriers = jobs.filter((j) => j.kind === 'array' && !ev.get(String(j.id))?.nativeId && ev.get(String(j.id))?.complete);
    if (carriers.length > 0) {
      const found = await readElementTestimony(ctx, carriers);
      for (const job of carriers) {
        const arrayId = found.get(job.id);
        if (arrayId === undefined) ctx.store.update(job.id, ['submitting'], { retryAt: ctx.now() + 1000 });
        else if (arrayId) adopt(ctx, job, arrayId, 'its elements recorded the array id when they started');
      }
    }
    batchOk(ctx, 'read job directories');
    return true;
  } catch (e) {
    retryBatchLater(ctx, jobs, 'read job directories', e);
    return false;
  }
}

/**
 * For each carrier: the array id its elements recorded ('' when no element started, undefined
 * when the answer was cut short, so the caller waits rather than submits again). Throws when
 * the directories cannot be read.
 */
async function readElementTestimony(ctx: StepContext, carriers: JobRecord[]): Promise<Map<number, string | undefined>> {
  const r = await exec(ctx, elementsProgram(carriers.map((c) => ({ id: c.id, jobDir: jobDir(ctx, c) }))));
  if (r.exitCode !== 0) throw new BridgeError('REMOTE_IO', 'reading array element files failed', { transient: true, context: { cluster: ctx.rt.name, exitCode: r.exitCode, stderr: r.stderr } });
  const arrays = ctx.rt.adapter.arrays;
  return parseElementTestimony(r.stdout, carriers.map((c) => c.id), (id) => arrays?.parseElementId(id)?.arrayId);
}
