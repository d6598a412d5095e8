/**
 * Submission through slurmrestd: the request carries the job the #SBATCH lines describe, and
 * the daemon's answers (captured from slurmrestd 22.05.8 on the test cluster) are read right.
 */
import { describe, expect, it } from 'vitest';
import { createSlurmAdapter, parseRestSubmit, restJobFields, slurmDirectives } from '../../../adapters/slurm/index.js';
import type { ScriptContext } from '../../../src/domain/adapter.js';
import { BridgeError } from '../../../src/domain/errors.js';
import { parseJobSpec } from '../../../src/domain/jobSpec.js';

const meta = '"meta": {"plugin": {"type": "openapi/v0.0.38", "name": "Slurm OpenAPI v0.0.38"}, "Slurm": {"version": {"major": 22, "micro": 8, "minor": 5}, "release": "22.05.8"}}';
const ACCEPTED = `{${meta}, "errors": [], "job_id": 2684, "step_id": "BATCH", "job_submit_user_msg": ""}`;
const BAD_PARTITION = `{${meta}, "errors": [{"error_code": 2000, "error": "Invalid partition name specified"}]}`;

const ctx: ScriptContext = { jobDir: '/scratch/jobs/i-7', tag: 'hbi-7-0', bridgeJobId: 7, attempt: 0, defaults: {} };

describe('slurmrestd submission', () => {
  it('maps every directive of a job to the v0.0.38 field, or refuses the job as a whole', () => {
    const spec = parseJobSpec({ name: 'my job', tasks: [{ cmd: 'true' }], queue: 'debug', account: 'lab', resources: { nodes: 1, cpus: 2, memory: 2, walltime: 30 } });
    const fields = restJobFields(slurmDirectives(spec, { ...ctx, afterOk: ['12', '13_4'], array: { size: 10, parallel: 2 } }));
    expect(fields).toMatchObject({
      name: 'hbi-7-0',
      comment: 'my job',
      current_working_directory: '/scratch/jobs/i-7',
      standard_output: '/scratch/jobs/i-7/.hpcb/scheduler.%a.out',
      nodes: [1, 1],
      cpus_per_task: 2,
      memory_per_node: 2048,
      time_limit: 30,
      partition: 'debug',
      account: 'lab',
      array: '0-9%2',
      dependency: 'afterok:12:13_4',
      kill_on_invalid_dependency: true,
      requeue: false,
    });
    // --tmp has no field in v0.0.38: such a job goes to sbatch.
    const disk = parseJobSpec({ tasks: [{ cmd: 'true' }], resources: { disk: 1 } });
    expect(restJobFields(slurmDirectives(disk, ctx))).toBeUndefined();
    const adapter = createSlurmAdapter({ slurmrestd: { socket: '/run/r/{user}.sock' } });
    expect(adapter.rest!.socket('alice')).toBe('/run/r/alice.sock');
    expect(adapter.rest!.submitRequest(disk, ctx, '#!/bin/bash\n')).toBeUndefined();
    const req = adapter.rest!.submitRequest(spec, ctx, adapter.renderScript(spec, ctx))!;
    expect(req).toMatchObject({ method: 'POST', path: '/slurm/v0.0.38/job/submit' });
    const body = JSON.parse(req.body!) as { job: Record<string, unknown>; script: string };
    expect(body.job.environment).toEqual({ PATH: '/usr/local/bin:/usr/bin:/bin' });
    expect(body.script).toBe(adapter.renderScript(spec, ctx));
  });

  it('reads the job id, a refusal with the controller words, and treats the rest as transient', () => {
    expect(parseRestSubmit(200, ACCEPTED)).toBe('2684');
    const refused = (() => {
      try {
        parseRestSubmit(500, BAD_PARTITION);
      } catch (e) {
        return e as BridgeError;
      }
    })()!;
    expect(refused.code).toBe('SUBMIT_REJECTED');
    expect(refused.transient).toBe(false);
    expect(refused.message).toBe('slurmrestd refused the job: Invalid partition name specified');
    expect(refused.context).toMatchObject({ httpStatus: 500, codes: [2000] });
    for (const [status, body] of [
      [500, '{"errors": [{"error_code": 1800, "error": "Communication connection failure"}]}'],
      [502, '<html>bad gateway</html>'],
      [200, '{"errors": []}'],
      [500, '{"errors": [{"error_code": 2100, "error": "Socket timed out on send/recv operation"}]}'],
    ] as const) {
      expect(() => parseRestSubmit(status, body)).toThrow(expect.objectContaining({ code: 'SCHEDULER_ERROR', transient: true }));
    }
  });
});
