/**
 * Submission through slurmrestd (OpenAPI v0.0.38, the version Slurm 22.05 serves) instead of
 * sbatch: the same job, described by the same directives the batch script carries.
 *
 * slurmrestd does not read `#SBATCH` lines (the controller receives the script as text and
 * the job description as fields), so each directive is mapped to its field here. A directive
 * without a field in this version makes the request undefined, and such a job is submitted
 * with sbatch like any other: nothing is silently dropped.
 *
 * The environment: sbatch's `--export=ALL` exports the submitting shell's environment, which
 * here is a plain SSH session's. slurmrestd has none to give, so the request names the same
 * small one (PATH and the user's HOME); anything a task needs comes from the definition's env,
 * which the runner exports itself.
 */
import type { RestRequest, RestSubmit, ScriptContext } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import { isTransientSlurmMessage } from './parse.js';
import { slurmDirectives, type Directive } from './render.js';

export const SLURMRESTD_API = 'v0.0.38';

/** `--mem=2048M` -> 2048 (the renderer always writes whole MB with the unit). */
function mb(v: string | undefined): number | undefined {
  const m = /^(\d+)M$/.exec(v ?? '');
  return m ? Number(m[1]) : undefined;
}

const int = (v: string | undefined): number | undefined => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);

/** The job description fields of the directives, or undefined when one has no field. */
export function restJobFields(directives: readonly Directive[]): Record<string, unknown> | undefined {
  const job: Record<string, unknown> = {};
  for (const [flag, value] of directives) {
    const text: Record<string, string> = {
      '--job-name': 'name',
      '--comment': 'comment',
      '--chdir': 'current_working_directory',
      '--output': 'standard_output',
      '--error': 'standard_error',
      '--partition': 'partition',
      '--account': 'account',
      '--qos': 'qos',
      '--reservation': 'reservation',
      '--constraint': 'constraints',
      '--array': 'array',
      '--dependency': 'dependency',
      '--gres': 'gres',
    };
    const numbers: Record<string, string> = { '--ntasks-per-node': 'tasks_per_node', '--cpus-per-task': 'cpus_per_task', '--time': 'time_limit' };
    if (flag in text && value !== undefined) job[text[flag]!] = value;
    else if (flag in numbers && int(value) !== undefined) job[numbers[flag]!] = int(value);
    else if (flag === '--nodes' && int(value) !== undefined) job.nodes = [int(value), int(value)];
    else if (flag === '--mem' && mb(value) !== undefined) job.memory_per_node = mb(value);
    else if (flag === '--mem-per-cpu' && mb(value) !== undefined) job.memory_per_cpu = mb(value);
    else if (flag === '--kill-on-invalid-dep' && value === 'yes') job.kill_on_invalid_dependency = true;
    else if (flag === '--no-requeue' && value === undefined) job.requeue = false;
    else if (flag === '--export' && value === 'ALL') continue; // the environment below
    else return undefined;
  }
  return job;
}

export interface SlurmRestOptions {
  /** The socket path; `{user}` becomes the account the request is made as. */
  socket: string;
  /** The environment the job starts with (sbatch would export the session's). */
  environment?: Record<string, string>;
}

export function slurmRest(opts: SlurmRestOptions): RestSubmit {
  return {
    socket: (user) => opts.socket.replaceAll('{user}', user),
    submitRequest(spec: JobSpec, ctx: ScriptContext, script: string): RestRequest | undefined {
      const fields = restJobFields(slurmDirectives(spec, ctx));
      if (!fields) return undefined;
      const environment = opts.environment ?? { PATH: '/usr/local/bin:/usr/bin:/bin' };
      return { method: 'POST', path: `/slurm/${SLURMRESTD_API}/job/submit`, body: JSON.stringify({ job: { ...fields, environment }, script }) };
    },
    parseSubmit: parseRestSubmit,
  };
}

interface RestError {
  error?: string;
  error_code?: number;
  errno?: number;
  description?: string;
}

/**
 * The job id from slurmrestd's answer. A 200 with a job id and no errors is the only success.
 * 22.05 answers a refused job with HTTP 500 and the controller's error (`error_code` 2000,
 * "Invalid partition name specified"), so the status alone cannot tell a refusal from a daemon
 * in trouble: Slurm's own codes of 2000 and up are the controller's verdict on this job
 * (SUBMIT_REJECTED), unless its words are the ones sbatch also treats as passing
 * (isTransientSlurmMessage); codes below 2000 (protocol and communication), no code at all, or
 * an unreadable answer are transient, and the job may be submitted again only after the engine
 * looked for its tag.
 */
export function parseRestSubmit(status: number, body: string): string {
  let parsed: { job_id?: unknown; errors?: RestError[] } | undefined;
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const list = Array.isArray(parsed?.errors) ? parsed.errors : [];
  const errors = list.map((e) => [e.description, e.error].filter(Boolean).join(': ')).filter((s) => s !== '');
  const codes = list.map((e) => e.error_code ?? e.errno).filter((c): c is number => typeof c === 'number');
  const context = { httpStatus: status, errors, codes, ...(parsed ? {} : { body: body.slice(0, 2000) }) };
  const id = parsed?.job_id;
  if (status === 200 && list.length === 0 && (typeof id === 'number' || (typeof id === 'string' && /^\d+$/.test(id)))) return String(id);
  const words = errors.join('; ') || `HTTP ${status}`;
  const verdict = codes.some((c) => c >= 2000) && !isTransientSlurmMessage(words);
  if (verdict) throw new BridgeError('SUBMIT_REJECTED', `slurmrestd refused the job: ${words}`, { context });
  throw new BridgeError('SCHEDULER_ERROR', `slurmrestd did not submit the job: ${words}`, { transient: true, context });
}
