/**
 * Step: submission through the scheduler's REST daemon (an adapter's optional `rest`), over
 * streams the transport opens to the daemon's Unix socket: one HTTP request per job, a few
 * streams in flight, each carrying one request after another while the daemon keeps it open
 * (opening a forwarded stream is an SSH round trip), no remote program and no fork on the
 * login node. The streams live for one round of submissions and are closed after it.
 *
 * Exactly-once without a claim file: before a request is written, the job's try number is
 * raised in the database. A daemon killed while a request is in flight restarts with that
 * number set, and the status poll looks for the job's tag (and its own testimony) before
 * anything submits it again, the path of any submit with an unknown outcome. A request whose
 * answer was lost waits longer than a poll before that lookup, so a controller that accepted
 * it late has listed it by then. Nothing is written when the stream cannot be opened: such a
 * job goes to the submit program this tick instead.
 */
import type { Duplex } from 'node:stream';
import type { RestRequest } from '../../domain/adapter.js';
import { BridgeError } from '../../domain/errors.js';
import type { JobRecord } from '../../store/store.js';
import { httpExchange } from '../../transport/httpExchange.js';
import { accountOf, move, type StepContext } from '../context.js';
import { jobScriptContext } from '../scriptContext.js';

/** How long a request whose answer was lost waits before the tag lookup (and a new try). */
const LOST_ANSWER_WAIT_MS = 30_000;
/** Streams (requests in flight) per round. */
const REST_PARALLEL = 4;

/** The job's request, or undefined when it must go through the submit program. */
export function restRequestFor(ctx: StepContext, job: JobRecord): RestRequest | undefined {
  const rest = ctx.rt.adapter.rest;
  if (!rest || !ctx.rt.transport.openUnixStream) return undefined;
  const sc = jobScriptContext(ctx.rt, ctx.store, ctx.instance, job);
  return rest.submitRequest(job.spec, sc, ctx.rt.adapter.renderScript(job.spec, sc));
}

/** Submit `jobs` through the daemon; returns those to which nothing was sent (for the submit program). */
export async function restSubmit(ctx: StepContext, jobs: readonly { job: JobRecord; req: RestRequest }[]): Promise<JobRecord[]> {
  const fallBack: JobRecord[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(REST_PARALLEL, jobs.length) }, async () => {
      let stream: Duplex | undefined;
      while (next < jobs.length && !ctx.stopped()) {
        const { job, req } = jobs[next++]!;
        if (stream?.readableEnded || stream?.destroyed) stream = undefined;
        const kept = await restSubmitOne(ctx, job, req, stream);
        if (kept === null) fallBack.push(job);
        stream = kept ?? undefined;
      }
      stream?.destroy();
    }),
  );
  return fallBack;
}

/**
 * Submit one job through the daemon, on `open` when it is given. Returns the stream when it
 * may carry the next request, undefined when it may not, and null when nothing was sent (the
 * stream could not be opened): the caller submits that job the ordinary way.
 */
async function restSubmitOne(ctx: StepContext, job: JobRecord, req: RestRequest, open: Duplex | undefined): Promise<Duplex | undefined | null> {
  const rest = ctx.rt.adapter.rest!;
  const socket = rest.socket(accountOf(ctx, job));
  let stream: Duplex;
  try {
    stream = open ?? (await ctx.rt.transport.openUnixStream!(socket));
  } catch (e) {
    ctx.log.warn({ cluster: ctx.rt.name, jobId: job.id, socket, err: e instanceof Error ? e.message : String(e) }, 'REST daemon not reachable; submitting with the submit command');
    return null;
  }
  // From here the daemon may receive the job: record that before a byte is written.
  if (!ctx.store.update(job.id, ['submitting'], { stepFailures: job.stepFailures + 1, lastError: null })) return stream;
  ctx.counters.restSubmits++;
  let answer;
  try {
    answer = await httpExchange(stream, req, ctx.rt.submitTimeoutMs);
  } catch (e) {
    stream.destroy();
    const msg = e instanceof Error ? e.message : String(e);
    ctx.health.stepFailed('submit', e);
    ctx.store.update(job.id, ['submitting'], { retryAt: ctx.now() + LOST_ANSWER_WAIT_MS, lastError: `submit through the REST daemon at ${socket}: ${msg}; looking for the job by its tag before another try` });
    return undefined;
  }
  if (!answer.reusable) stream.destroy();
  try {
    const nativeId = rest.parseSubmit(answer.status, answer.body);
    ctx.counters.jobsSubmitted++;
    move(ctx, job, ['submitting'], 'queued', { nativeId, submittedAt: ctx.now(), statusReason: null }, 'submitted', { nativeId });
  } catch (e) {
    const err = e instanceof BridgeError ? e : new BridgeError('SCHEDULER_ERROR', String(e), { transient: true });
    Object.assign(err.context, { cluster: ctx.rt.name, jobId: job.id, socket });
    if (err.transient) {
      ctx.health.stepFailed('submit', err);
      ctx.store.update(job.id, ['submitting'], { retryAt: ctx.now() + LOST_ANSWER_WAIT_MS, lastError: err.describe() });
    } else {
      move(ctx, job, ['submitting'], 'failed', { statusReason: `rejected by the scheduler: ${err.message}`, lastError: err.describe() }, 'submit rejected', err.toJSON());
    }
  }
  return answer.reusable ? stream : undefined;
}
