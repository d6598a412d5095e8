/**
 * Reaching into a running job: a snapshot of one file of its directory, and a short command
 * inside its allocation (exec). Both act through the transport of the job's own Unix account
 * (runtimeForJob), so they can read and run what the job itself could and nothing of another
 * account's jobs; the caller (Bridge) has already checked that the job is the user's.
 */
import { randomBytes } from 'node:crypto';
import type { ExecView } from './client/types.js';
import { BridgeError } from './domain/errors.js';
import type { ExecRequest } from './domain/inJob.js';
import { runtimeForJob, type ClusterRuntime } from './engine/cluster.js';
import { execProgram, execStepProgram, parseExec, parseSnapshot, snapshotProgram } from './jobdir/inJob.js';
import { jobDirFor } from './jobdir/layout.js';
import type { Limits } from './settings/schema.js';
import type { JobRecord } from './store/store.js';

/** Seconds the daemon waits beyond a command's limit (exec.sh's own cut-off comes at limit + 15 s). */
const DAEMON_GRACE_SECONDS = 45;

export interface InJobContext {
  /** The cluster's base runtime (the job's account's is derived from it). */
  runtime: ClusterRuntime | undefined;
  /** The database instance id: part of every job directory's name. */
  instance: string;
  limits: Pick<Limits, 'snapshotBytes' | 'execOutputBytes'>;
}

function jobPlace(job: JobRecord, ctx: InJobContext): { rt: ClusterRuntime; jobDir: string } {
  if (!ctx.runtime) throw new BridgeError('CLUSTER_UNAVAILABLE', `cluster "${job.cluster}" of job ${job.id} is not configured in this daemon`, { context: { jobId: job.id, cluster: job.cluster } });
  const rt = runtimeForJob(ctx.runtime, job);
  return { rt, jobDir: jobDirFor(rt.scratchRoot, ctx.instance, job.id) };
}

const SNAPSHOT_STATES = new Set(['running', 'finishing', 'staging_out']);

function notRunning(job: JobRecord, what: string): BridgeError {
  const after = job.status === 'completed' || job.status === 'failed' || job.status === 'killed' || job.status === 'deleted';
  const hint = after ? `; it has ended (its collected outputs are listed at /jobs/${job.id}/outputs)` : '; wait until it runs';
  return new BridgeError('CONFLICT', `job ${job.id} is ${job.status}, not running: ${what}${hint}`, { context: { jobId: job.id, status: job.status } });
}

/** The bytes of `relPath` (already checked by jobRelativePath) in the running job's directory. */
export async function snapshot(job: JobRecord, relPath: string, ctx: InJobContext): Promise<Buffer> {
  if (!SNAPSHOT_STATES.has(job.state)) throw notRunning(job, 'a snapshot reads the directory of a running job');
  const { rt, jobDir } = jobPlace(job, ctx);
  const max = ctx.limits.snapshotBytes;
  const r = await rt.transport.exec(snapshotProgram(jobDir, relPath, max), { timeoutMs: rt.commandTimeoutMs });
  const a = parseSnapshot(r.stdout);
  const bad = (message: string) => new BridgeError('INVALID_DEFINITION', `path: "${relPath}" ${message}`, { context: { jobId: job.id, field: 'path' } });
  switch (a.kind) {
    case 'file':
      return a.data;
    case 'toolarge':
      throw new BridgeError('TOO_LARGE', `path: "${relPath}" is ${a.size} bytes; a snapshot reads at most ${max} (the daemon's limits.snapshotBytes)`, { context: { jobId: job.id, field: 'path', size: a.size } });
    case 'missing':
      throw new BridgeError('NOT_FOUND', `job ${job.id} has no file "${relPath}" in its directory (yet)`, { context: { jobId: job.id, field: 'path' } });
    case 'outside':
      throw bad('resolves outside the job directory (through a symlink): only files inside it can be read');
    case 'directory':
      throw bad('is a directory: name a file inside it');
    case 'special':
      throw bad('is not a regular file');
    case 'denied':
      throw bad("cannot be read by the job's account");
    case 'nodir':
      throw new BridgeError('CONFLICT', `job ${job.id}'s directory is no longer on the cluster`, { context: { jobId: job.id } });
    default:
      throw new BridgeError('REMOTE_IO', `reading "${relPath}" of job ${job.id} failed`, { context: { jobId: job.id, exitCode: r.exitCode, stdout: r.stdout.slice(0, 2000), stderr: r.stderr } });
  }
}

/** Run `req.argv` inside the running job's allocation, as its account, under the time limit. */
export async function execInJob(job: JobRecord, req: ExecRequest, ctx: InJobContext): Promise<ExecView> {
  const adapter = ctx.runtime?.adapter;
  if (adapter && !adapter.execInJob) {
    throw new BridgeError('CONFLICT', `job ${job.id} runs on cluster "${job.cluster}", where commands cannot run inside a job: ${adapter.execRefusal ?? 'its scheduler offers no way in'}`, { context: { jobId: job.id, cluster: job.cluster } });
  }
  if (job.state !== 'running' || !job.nativeId) throw notRunning(job, 'a command can only run inside a running job');
  const { rt, jobDir } = jobPlace(job, ctx);
  const t = req.timeoutSeconds;
  const work = randomBytes(8).toString('hex');
  const launcher = rt.adapter.execInJob!(job.nativeId, execStepProgram(jobDir, work, t, req.argv), { jobDir, timeoutSeconds: t });
  const started = Date.now();
  const view = (v: Omit<ExecView, 'timeoutSeconds' | 'durationMs'>): ExecView => ({ ...v, timeoutSeconds: t, durationMs: Date.now() - started });
  let r;
  try {
    r = await rt.transport.exec(execProgram(jobDir, work, t, ctx.limits.execOutputBytes, launcher), { timeoutMs: (t + DAEMON_GRACE_SECONDS) * 1000 });
  } catch (e) {
    // The daemon's own bound: the transport ended the whole remote program (its process group).
    if (e instanceof BridgeError && e.code === 'COMMAND_TIMEOUT') return view({ exitCode: null, timedOut: true, stdout: '', stderr: '', stdoutBytes: 0, stderrBytes: 0, truncated: false });
    throw e;
  }
  const a = parseExec(r.stdout);
  if (a.noDir) throw new BridgeError('CONFLICT', `job ${job.id}'s directory is no longer on the cluster`, { context: { jobId: job.id } });
  if (!a.complete) throw new BridgeError('REMOTE_IO', `running a command in job ${job.id} failed`, { context: { jobId: job.id, exitCode: r.exitCode, stderr: r.stderr } });
  const out = {
    stdout: a.stdout.data.toString('utf8'),
    stderr: a.stderr.data.toString('utf8'),
    stdoutBytes: a.stdout.bytes,
    stderrBytes: a.stderr.bytes,
    truncated: a.stdout.bytes > a.stdout.data.length || a.stderr.bytes > a.stderr.data.length,
  };
  // The command's own record wins: a launcher that hung after the command ended did not cut it off.
  if (a.step) return view({ ...out, exitCode: a.step.timedOut ? null : a.step.exitCode, timedOut: a.step.timedOut });
  if (a.cut) return view({ ...out, exitCode: null, timedOut: true });
  // No record and not cut off: the command never started (the job left its allocation meanwhile,
  // or the scheduler refused the step); what the launcher said is the reason.
  const said = out.stderr.trim().split('\n').slice(-3).join(' ') || `exit status ${a.launcherExit}`;
  throw new BridgeError('CONFLICT', `the command could not start inside job ${job.id}: ${said}`, { context: { jobId: job.id, stderr: out.stderr } });
}
