/**
 * Step: stage-in. Makes each job's directory, clears a previous attempt's testimony, writes the
 * inputs, lets staging place the artifacts (or, for an array carrier, lists its elements'
 * directories) and writes the batch script; then the job waits in `submitting`. A round of
 * first attempts (a sweep's instances) goes as one stream and one remote command.
 */
import { posix } from 'node:path';
import { BridgeError } from '../../domain/errors.js';
import { isTerminal } from '../../domain/state.js';
import { jobDirsArchive, unpackProgram, unpackSucceeded, type JobDirContent } from '../../jobdir/bulk.js';
import { clearAttemptProgram } from '../../jobdir/evidence.js';
import { FILES, HPCB_DIR } from '../../jobdir/layout.js';
import type { JobRecord } from '../../store/store.js';
import { exec, jobDir, move, stepFailed, type StepContext } from '../context.js';
import { jobScriptContext } from '../scriptContext.js';
import { elementIndex } from './arrays.js';

/** Returns how many jobs it staged in (moved to `submitting`). */
export async function stageIn(ctx: StepContext, jobs: JobRecord[]): Promise<number> {
  if (jobs.length === 0) return 0;
  let staged = 0;
  const staging: JobRecord[] = [];
  ctx.store.batch(() => {
    for (const job of jobs) {
      const cur = job.state === 'accepted' ? move(ctx, job, ['accepted'], 'staging_in', {}, 'staging in') : job;
      if (cur) staging.push(cur);
    }
  });
  // A first attempt's directory holds nothing but what the bridge put there, so a whole round
  // of them (a sweep: thousands) travels as one stream unpacked by one remote command. A
  // resubmission clears the previous attempt's testimony first, one job at a time, as before.
  const fresh = staging.filter((j) => j.attempt === 0);
  const streamed = await streamJobDirs(ctx, fresh);
  ctx.store.batch(() => {
    for (const job of staging) if (streamed.get(job.id) === 'all' && move(ctx, job, ['staging_in'], 'submitting', {}, 'staged in')) staged++;
  });
  const rest = staging.filter((j) => streamed.get(j.id) !== 'all');
  const made = await makeJobDirs(ctx, rest.filter((j) => !streamed.has(j.id)));
  await forEachLimit(rest, ctx.stagingConcurrency, async (job) => {
    try {
      if (streamed.get(job.id) === 'failed') return;
      if (streamed.get(job.id) === 'inputs') {
        await ctx.staging?.stageIn?.(job, jobDir(ctx, job), ctx.rt);
        await ctx.rt.transport.writeFile(posix.join(jobDir(ctx, job), HPCB_DIR, FILES.jobScript), renderScript(ctx, job), { mode: 0o700 });
      } else {
        await stageInOne(ctx, job, made.has(job.id));
      }
    } catch (e) {
      stepFailed(ctx, job, 'stage-in', e);
      return;
    }
    if (move(ctx, job, ['staging_in'], 'submitting', {}, 'staged in')) staged++;
  });
  return staged;
}

/** What the stream carried for a job: everything, or its directory and inputs (artifacts and script follow). */
type Streamed = 'all' | 'inputs' | 'failed';

/**
 * The directories, inputs, element lists and scripts of `jobs` as one tar stream, unpacked by
 * one remote program (src/jobdir/programs/unpack.sh). A job with artifacts gets its directory
 * and inputs from the stream; its artifacts are placed, and only then its script written, as
 * for a single job. When the stream fails, nothing is lost: each job then stages in alone.
 */
async function streamJobDirs(ctx: StepContext, jobs: readonly JobRecord[]): Promise<Map<number, Streamed>> {
  const out = new Map<number, Streamed>();
  if (jobs.length === 0) return out;
  const contents: JobDirContent[] = [];
  const kinds = new Map<number, Streamed>();
  for (const job of jobs) {
    try {
      const files = job.spec.inputs.map((i) => ({ path: i.filename, data: Buffer.from(i.content, 'base64'), mode: i.executable ? 0o700 : 0o600 }));
      if (job.kind === 'array') files.push({ path: `${HPCB_DIR}/${FILES.instances}`, data: Buffer.from(instancesFile(ctx, job)), mode: 0o600 });
      const all = job.kind === 'array' || !(ctx.staging?.stageInNeeded ? ctx.staging.stageInNeeded(job, ctx.rt) : job.spec.artifacts.length > 0);
      if (all) files.push({ path: `${HPCB_DIR}/${FILES.jobScript}`, data: Buffer.from(renderScript(ctx, job)), mode: 0o700 });
      contents.push({ jobDir: jobDir(ctx, job), files });
      kinds.set(job.id, all ? 'all' : 'inputs');
    } catch {
      // Its own stage-in reports the problem (a script that cannot be rendered) for this job.
    }
  }
  if (contents.length === 0) return out;
  try {
    const { jobsDir, archive } = jobDirsArchive(contents);
    const r = await exec(ctx, unpackProgram(jobsDir), ctx.rt.commandTimeoutMs, archive);
    ctx.counters.stageInStreams++;
    if (r.exitCode !== 0 || !unpackSucceeded(r.stdout)) {
      ctx.log.warn({ cluster: ctx.rt.name, jobs: contents.length, exitCode: r.exitCode, stderr: r.stderr.slice(0, 2000) }, 'stage-in stream failed; staging in job by job');
      return out;
    }
  } catch (e) {
    // The cluster did not answer (the outcome is unknown): staging in job by job would only
    // wait out the same timeouts again. Every job of the stream backs off and tries again.
    for (const job of jobs) if (kinds.has(job.id)) stepFailed(ctx, job, 'stage-in', e);
    return new Map([...kinds.keys()].map((id) => [id, 'failed' as const]));
  }
  return kinds;
}

function renderScript(ctx: StepContext, job: JobRecord): string {
  return ctx.rt.adapter.renderScript(job.spec, jobScriptContext(ctx.rt, ctx.store, ctx.instance, job));
}

/**
 * An array carrier's element list: line k+1 is the job directory of element k; an instance
 * cancelled before the array was submitted gets an empty line, so its element exits at once
 * without running anything.
 */
function instancesFile(ctx: StepContext, job: JobRecord): string {
  const insts = ctx.store.carrierInstances(job.workflowId!, job.id);
  const lines = Array.from({ length: job.arraySize ?? 0 }, () => '');
  for (const i of insts) {
    const k = elementIndex(job, i);
    if (k !== undefined && k < lines.length && !isTerminal(i.state)) lines[k] = jobDir(ctx, i);
  }
  return lines.join('\n') + '\n';
}

/**
 * Every job directory (with its .hpcb/) of a stage-in round in one `mkdir -p` per chunk of
 * directories: over SFTP a mkdirp costs a stat and a mkdir round trip per missing level, per
 * job. Returns the jobs whose directories now exist; a failure here only means those jobs
 * create their own directory in stageInOne.
 */
async function makeJobDirs(ctx: StepContext, jobs: readonly JobRecord[]): Promise<Set<number>> {
  const made = new Set<number>();
  const CHUNK = 200; // ~200 paths of ~100 bytes: far below the per-argument and argv limits
  for (let i = 0; i < jobs.length; i += CHUNK) {
    const chunk = jobs.slice(i, i + CHUNK);
    try {
      // Owner-only, the scratch root and jobs/ included when this makes them: no other account
      // may list or enter them.
      const r = await exec(ctx, ['bash', '-c', 'umask 077 && mkdir -p -- "$@"', 'mkdir', ...chunk.map((j) => posix.join(jobDir(ctx, j), HPCB_DIR))]);
      if (r.exitCode === 0) for (const j of chunk) made.add(j.id);
    } catch {
      // Unknown outcome: each job makes its own directory (mkdir -p is idempotent).
    }
  }
  return made;
}

async function stageInOne(ctx: StepContext, job: JobRecord, dirReady = false): Promise<void> {
  const t = ctx.rt.transport;
  const dir = jobDir(ctx, job);
  if (!dirReady) await t.mkdirp(posix.join(dir, HPCB_DIR), 0o700);
  if (job.attempt > 0) {
    // A resubmission: the previous attempt's testimony must not be read as this one's.
    const r = await exec(ctx, clearAttemptProgram(dir));
    if (r.exitCode !== 0) throw new BridgeError('REMOTE_IO', `could not clear the previous attempt's files in ${dir}`, { transient: true, context: { cluster: ctx.rt.name, jobId: job.id, exitCode: r.exitCode, stderr: r.stderr } });
  }
  for (const input of job.spec.inputs) {
    const target = posix.join(dir, input.filename);
    const parent = posix.dirname(target);
    if (parent !== dir) await t.mkdirp(parent, 0o700);
    await t.writeFile(target, Buffer.from(input.content, 'base64'), { mode: input.executable ? 0o700 : 0o600 });
  }
  if (job.kind === 'array') {
    await t.writeFile(posix.join(dir, HPCB_DIR, FILES.instances), instancesFile(ctx, job), { mode: 0o600 });
  } else {
    await ctx.staging?.stageIn?.(job, dir, ctx.rt);
  }
  await t.writeFile(posix.join(dir, HPCB_DIR, FILES.jobScript), renderScript(ctx, job), { mode: 0o700 });
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}
