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
  errno?: number;
  error_number?: number;
  description?: string;
}

/**
 * The job id from slurmrestd's answer. A 200 with a job id is the only success. Its `errors`
 * carry the controller's words ("Invalid partition name specified"): an error the controller
 * gave about this job is a rejection; a daemon that could not reach the controller, answered
 * 5xx, or said nothing readable is transient (the job may be submitted again only after the
 * engine looked for its tag).
 */
export function parseRestSubmit(status: number, body: string): string {
  let parsed: { job_id?: unknown; errors?: RestError[] } | undefined;
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const errors = (parsed?.errors ?? []).map((e) => [e.description, e.error].filter(Boolean).join(': ')).filter((s) => s !== '');
  const context = { httpStatus: status, errors, ...(parsed ? {} : { body: body.slice(0, 2000) }) };
  if (status === 200 && (typeof parsed?.job_id === 'number' || (typeof parsed?.job_id === 'string' && /^\d+$/.test(parsed.job_id))) && errors.length === 0) {
    return String(parsed.job_id);
  }
  const words = errors.join('; ') || `HTTP ${status}`;
  const controllerSaidNo = status < 500 && errors.length > 0 && !errors.some((e) => /unable to contact|connection refused|communication|timed? ?out/i.test(e));
  if (controllerSaidNo) throw new BridgeError('SUBMIT_REJECTED', `slurmrestd refused the job: ${words}`, { context });
  throw new BridgeError('SCHEDULER_ERROR', `slurmrestd did not submit the job: ${words}`, { transient: true, context });
}
