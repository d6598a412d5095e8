/**
 * Step: submit. Jobs go to the scheduler in batches (one remote command per batch, run by the
 * exactly-once submit program of src/jobdir), at most `submitRatePerSecond` a second (a token
 * bucket: login nodes and controllers have limits).
 */
import { posix } from 'node:path';
import { BridgeError } from '../../domain/errors.js';
import { FILES, HPCB_DIR } from '../../jobdir/layout.js';
import { parseSubmitProgramOutput, submitProgram, type SubmitItem, type SubmitRecord } from '../../jobdir/submit.js';
import type { JobRecord } from '../../store/store.js';
import type { ExecResult } from '../../transport/transport.js';
import type { RestRequest } from '../../domain/adapter.js';
import { batchOk, exec, jobDir, move, retryBatchLater, stepFailed, type StepContext } from '../context.js';
import { restRequestFor, restSubmit } from './restSubmit.js';
import { jobScriptContext } from '../scriptContext.js';

export class TokenBucket {
  private tokens: number;
  private lastRefill: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number,
  ) {
    this.tokens = ratePerSecond;
    this.lastRefill = now();
  }

  /** Up to `want` tokens, as many as have accrued. */
  take(want: number): number {
    const now = this.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.lastRefill) / 1000) * this.ratePerSecond);
    this.lastRefill = now;
    const n = Math.min(want, Math.floor(this.tokens));
    this.tokens -= n;
    return n;
  }
}

/**
 * One round per call: up to `submitsInFlight` batches at once (each its own remote program, on
 * its own channel of this identity's connection), since the scheduler takes submissions in
 * parallel and a batch waiting on it leaves the next one idle otherwise; exactly-once does not
 * depend on the order (each job's record is claimed by one program only, whichever batch it is
 * in). One round, not all: a round takes a while, and the tick's other steps (polls, finishing,
 * stage-out, new jobs' stage-in) should not wait for hundreds more. Returns true when jobs are
 * left (the loop runs its next tick at once) or the bucket ran dry (it comes back when it
 * refills).
 */
export async function submit(ctx: StepContext, bucket: TokenBucket, jobs: JobRecord[]): Promise<boolean> {
  const pending = jobs.filter((j) => !(j.cancelRequestedAt !== null && j.nativeId));
  if (pending.length === 0 || ctx.stopped()) return false;
  const batches: JobRecord[][] = [];
  let offset = 0;
  const inFlight = Math.max(1, ctx.rt.submitsInFlight ?? 1);
  // A round smaller than the batch size is shared among the programs in flight too (20 jobs
  // of a loop's round: two programs of 10 wait half as long on the scheduler as one of 20),
  // but not below a few jobs each: a program of its own costs a channel and a shell.
  const size = Math.min(ctx.rt.submitBatchSize, Math.max(MIN_SHARED_BATCH, Math.ceil(pending.length / inFlight)));
  while (batches.length < inFlight && offset < pending.length) {
    const n = bucket.take(Math.min(size, pending.length - offset));
    if (n === 0) break;
    batches.push(pending.slice(offset, offset + n));
    offset += n;
  }
  if (batches.length === 0) return true;
  const ok = await Promise.all(batches.map((b) => submitBatch(ctx, b)));
  // An unknown outcome is retried after its back-off, not at once.
  return ok.every(Boolean) && offset < pending.length;
}

/** The fewest jobs a batch gets when a round is shared among the submit programs in flight. */
const MIN_SHARED_BATCH = 8;

/**
 * One batch: through the adapter's REST daemon where it has one (and the job's directives fit
 * its API), the rest through the submit program; false when the program's outcome is unknown
 * (retried later).
 */
async function submitBatch(ctx: StepContext, all: JobRecord[]): Promise<boolean> {
  const batch: JobRecord[] = [];
  const viaRest: { job: JobRecord; req: RestRequest }[] = [];
  for (const job of all) {
    let req: RestRequest | undefined;
    try {
      req = restRequestFor(ctx, job);
    } catch {
      req = undefined; // the submit program reports what is wrong with this job
    }
    if (req) viaRest.push({ job, req });
    else batch.push(job);
  }
  if (viaRest.length > 0) batch.push(...(await restSubmit(ctx, viaRest)));
  if (batch.length === 0) return true;
  batch.sort((a, b) => a.id - b.id); // the submit program's groups rely on one global order
  const items: SubmitItem[] = batch.map((job) => {
    const sc = jobScriptContext(ctx.rt, ctx.store, ctx.instance, job);
    return { key: String(job.id), jobDir: sc.jobDir, attempt: job.attempt, tryNo: job.stepFailures, argv: ctx.rt.adapter.submitCommand(posix.join(sc.jobDir, HPCB_DIR, FILES.jobScript), sc) };
  });
  let result: ExecResult;
  try {
    ctx.counters.submitCommands++;
    result = await exec(ctx, submitProgram(items), ctx.rt.submitTimeoutMs);
  } catch (e) {
    // Unknown outcome: the records on the cluster will tell on the next try (same try
    // number, so nothing is submitted twice).
    retryBatchLater(ctx, batch, 'submit', e);
    return false;
  }
  batchOk(ctx, 'submit');
  const records = parseSubmitProgramOutput(result.stdout);
  ctx.store.batch(() => {
    for (const job of batch) record(ctx, job, records.get(String(job.id)));
  });
  return true;
}

/** What the submit program says of one job. */
function record(ctx: StepContext, job: JobRecord, rec: SubmitRecord | undefined): void {
  if (!rec) {
    // Output cut short: the record on the cluster is authoritative; ask again next tick.
    ctx.store.update(job.id, ['submitting'], { retryAt: ctx.now() + 1000, lastError: 'submit output incomplete' });
    return;
  }
  if (rec.kind === 'nodir') {
    // Not entering the directory may pass (a shared filesystem hiccup); a few tries, then fail.
    stepFailed(ctx, job, 'submit', new BridgeError('REMOTE_IO', `cannot enter the job directory ${jobDir(ctx, job)} on the cluster`, { context: { cluster: ctx.rt.name, jobId: job.id } }));
    return;
  }
  if (rec.kind === 'locked') {
    ctx.store.update(job.id, ['submitting'], { retryAt: ctx.now() + 5000, lastError: 'another submission of this job is still running' });
    return;
  }
  if (rec.kind === 'unknown') {
    // The record was created but never filled (the remote shell died after the submit
    // command, or the disk was full): the job may be in the queue. A new try number makes
    // the next tick look for its tag (and its own testimony) before submitting again.
    ctx.store.update(job.id, ['submitting'], { stepFailures: job.stepFailures + 1, retryAt: ctx.now() + 1000, lastError: 'the submit record on the cluster is incomplete; looking for the job by its tag' });
    return;
  }
  try {
    const nativeId = ctx.rt.adapter.parseSubmit({ exitCode: rec.exitCode, signal: null, stdout: rec.stdout, stderr: rec.stderr, durationMs: 0 });
    ctx.counters.jobsSubmitted++;
    move(ctx, job, ['submitting'], 'queued', { nativeId, submittedAt: ctx.now(), statusReason: null }, 'submitted', { nativeId });
  } catch (e) {
    const err = e instanceof BridgeError ? e : new BridgeError('SCHEDULER_ERROR', String(e), { transient: true });
    err.context.cluster = ctx.rt.name;
    err.context.jobId = job.id;
    if (err.transient) {
      // Next try gets a new record; the poll before it looks for the tag first.
      stepFailed(ctx, job, 'submit', err);
    } else {
      move(ctx, job, ['submitting'], 'failed', { statusReason: `rejected by the scheduler: ${err.message}`, lastError: err.describe() }, 'submit rejected', err.toJSON());
    }
  }
}
