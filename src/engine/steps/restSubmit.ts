/**
 * Submission through the scheduler's REST daemon (an adapter's optional `rest`), over a stream
 * the transport opens to the daemon's Unix socket: one HTTP request per job, several in flight,
 * no remote program and no fork on the login node.
 *
 * Exactly-once without a claim file: before a request is written, the job's try number is
 * raised in the database. A daemon killed while a request is in flight restarts with that
 * number set, and the status poll looks for the job's tag (and its own testimony) before
 * anything submits it again, the path of any submit with an unknown outcome. A request whose
 * answer was lost waits longer than a poll before that lookup, so a controller that accepted
 * it late has listed it by then. Nothing is written when the stream cannot be opened: such a
 * job goes to the submit program this tick instead.
 */
import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RestRequest } from '../../domain/adapter.js';
import { BridgeError } from '../../domain/errors.js';
import type { JobRecord } from '../../store/store.js';
import { accountOf, move, type StepContext } from '../context.js';
import { jobScriptContext } from '../scriptContext.js';

/** How long a request whose answer was lost waits before the tag lookup (and a new try). */
const LOST_ANSWER_WAIT_MS = 30_000;

/** The job's request, or undefined when it must go through the submit program. */
export function restRequestFor(ctx: StepContext, job: JobRecord): RestRequest | undefined {
  const rest = ctx.rt.adapter.rest;
  if (!rest || !ctx.rt.transport.openUnixStream) return undefined;
  const sc = jobScriptContext(ctx.rt, ctx.store, ctx.instance, job);
  return rest.submitRequest(job.spec, sc, ctx.rt.adapter.renderScript(job.spec, sc));
}

/**
 * Submit one job through the daemon. Returns false when nothing was sent (the stream could not
 * be opened): the caller submits it the ordinary way.
 */
export async function restSubmitOne(ctx: StepContext, job: JobRecord, req: RestRequest): Promise<boolean> {
  const rest = ctx.rt.adapter.rest!;
  const socket = rest.socket(accountOf(ctx, job));
  let stream: Duplex;
  try {
    stream = await ctx.rt.transport.openUnixStream!(socket);
  } catch (e) {
    ctx.log.warn({ cluster: ctx.rt.name, jobId: job.id, socket, err: e instanceof Error ? e.message : String(e) }, 'REST daemon not reachable; submitting with the submit command');
    return false;
  }
  // From here the daemon may receive the job: record that before a byte is written.
  if (!ctx.store.update(job.id, ['submitting'], { stepFailures: job.stepFailures + 1, lastError: null })) {
    stream.destroy();
    return true;
  }
  ctx.counters.restSubmits++;
  let answer: { status: number; body: string };
  try {
    answer = await send(stream, req, ctx.rt.submitTimeoutMs);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    ctx.health.stepFailed('submit', e);
    ctx.store.update(job.id, ['submitting'], { retryAt: ctx.now() + LOST_ANSWER_WAIT_MS, lastError: `submit through the REST daemon at ${socket}: ${msg}; looking for the job by its tag before another try` });
    return true;
  }
  try {
    const nativeId = rest.parseSubmit(answer.status, answer.body);
    ctx.counters.jobsSubmitted++;
    move(ctx, job, ['submitting'], 'queued', { nativeId, submittedAt: ctx.now(), statusReason: null }, 'submitted', { nativeId });
  } catch (e) {
    const err = e instanceof BridgeError ? e : new BridgeError('SCHEDULER_ERROR', String(e), { transient: true });
    err.context.cluster = ctx.rt.name;
    err.context.jobId = job.id;
    err.context.socket = socket;
    if (err.transient) {
      ctx.health.stepFailed('submit', err);
      ctx.store.update(job.id, ['submitting'], { retryAt: ctx.now() + LOST_ANSWER_WAIT_MS, lastError: err.describe() });
    } else {
      move(ctx, job, ['submitting'], 'failed', { statusReason: `rejected by the scheduler: ${err.message}`, lastError: err.describe() }, 'submit rejected', err.toJSON());
    }
  }
  return true;
}

/** One HTTP/1.1 request over `stream`; the daemon's status and body. */
function send(stream: Duplex, req: RestRequest, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = req.body ?? '';
    const r = request(
      {
        createConnection: () => stream as never,
        method: req.method,
        path: req.path,
        headers: { Host: 'localhost', 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          stream.destroy();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', fail);
      },
    );
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(e: Error): void {
      clearTimeout(timer);
      stream.destroy();
      r.destroy();
      reject(e);
    }
    r.on('error', fail);
    r.end(body);
  });
}
