/**
 * Step: stage-in. Makes each job's directory, clears a previous attempt's testimony, writes the
 * inputs, lets staging place the artifacts (or, for an array carrier, lists its elements'
 * directories) and writes the batch script; then the job waits in `submitting`.
 */
import { posix } from 'node:path';
import { BridgeError } from '../../domain/errors.js';
import { isTerminal } from '../../domain/state.js';
import { clearAttemptProgram } from '../../jobdir/evidence.js';
import { FILES, HPCB_DIR } from '../../jobdir/layout.js';
import type { JobRecord } from '../../store/store.js';
import { exec, jobDir, move, stepFailed, type StepContext } from '../context.js';
import { jobScriptContext } from '../scriptContext.js';

export async function stageIn(ctx: StepContext, jobs: JobRecord[]): Promise<void> {
  if (jobs.length === 0) return;
  const made = await makeJobDirs(ctx, jobs);
  await forEachLimit(jobs, ctx.stagingConcurrency, async (job) => {
    let current = job;
    if (current.state === 'accepted') {
      const moved = move(ctx, current, ['accepted'], 'staging_in', {}, 'staging in');
      if (!moved) return;
      current = moved;
    }
    try {
      await stageInOne(ctx, current, made.has(job.id));
    } catch (e) {
      stepFailed(ctx, current, 'stage-in', e);
      return;
    }
    move(ctx, current, ['staging_in'], 'submitting', {}, 'staged in');
  });
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
    // Line k+1 is the job directory of element k; an instance cancelled before the array was
    // submitted gets an empty line, so its element exits at once without running anything.
    const insts = ctx.store.workflowJobs(job.workflowId!).filter((j) => j.arrayJobId === job.id);
    const lines = Array.from({ length: job.arraySize ?? 0 }, () => '');
    for (const i of insts) if (i.wfIndex !== null && !isTerminal(i.state)) lines[i.wfIndex] = jobDir(ctx, i);
    await t.writeFile(posix.join(dir, HPCB_DIR, FILES.instances), lines.join('\n') + '\n', { mode: 0o600 });
  } else {
    await ctx.staging?.stageIn?.(job, dir, ctx.rt);
  }
  const script = ctx.rt.adapter.renderScript(job.spec, jobScriptContext(ctx.rt, ctx.store, ctx.instance, job));
  await t.writeFile(posix.join(dir, HPCB_DIR, FILES.jobScript), script, { mode: 0o700 });
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
