/**
 * A command inside a running Slurm job: a job step that shares the job's resources.
 *
 *   srun --jobid=<raw id> --overlap --nodes=1 --ntasks=1 --time=<minutes> --chdir=<job dir> <inner>
 *
 * Checked with Slurm 22.05.8 on the test cluster: `--overlap` lets the step start beside the
 * batch step, which holds every CPU and all the memory of the allocation (without it the step
 * waits for resources that never free up); `--time` is the step's own limit, enforced by
 * slurmctld (minute granularity, checked about every 30 s), the scheduler-side bound behind the
 * `timeout` the inner program runs under; a TERM to srun cancels the step. srun prints a line of
 * its own for a task that exits non-zero, so the inner program exits 0 and records the status
 * in a file.
 */
import { BridgeError } from '../../src/domain/errors.js';

/** Seconds the scheduler's limit leaves after the inner program's own (its TERM, then KILL 5 s later). */
const STEP_GRACE_SECONDS = 15;

/**
 * srun's --jobid takes a job's own numeric id only ("Invalid numeric value" for `123_4`), so an
 * array element's id is first turned into its raw id with squeue (%A).
 */
const STEP = [
  'id=$1',
  'shift',
  'case $id in',
  '  *_*)',
  '    raw=$(squeue --noheader --jobs="$id" --format=%A) || exit 1',
  '    [ -n "$raw" ] || { printf "hpc-bridge: job %s is no longer in the queue\\n" "$id" >&2; exit 1; }',
  '    id=$raw ;;',
  'esac',
  'exec srun --jobid="$id" --overlap --nodes=1 --ntasks=1 --quiet "$@"',
].join('\n');

export function slurmExecInJob(nativeId: string, inner: readonly string[], opts: { jobDir: string; timeoutSeconds: number }): string[] {
  if (!/^[0-9]+(?:_[0-9]+)?$/.test(nativeId)) throw new BridgeError('INTERNAL', `not a Slurm job id: ${JSON.stringify(nativeId)}`);
  const minutes = Math.ceil((opts.timeoutSeconds + STEP_GRACE_SECONDS) / 60);
  return ['bash', '-c', STEP, 'hpcb-slurm-step', nativeId, `--time=${minutes}`, `--chdir=${opts.jobDir}`, ...inner];
}
