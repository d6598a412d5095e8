import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../../src/domain/errors.js';
import { isTransientSlurmMessage, parseSbatchSubmit } from '../../../adapters/slurm/parse.js';
import { slurmAdapter } from '../../../adapters/slurm/index.js';
import { fixture, fixtureWithExit } from '../../helpers/fixtures.js';
import { fromFixture, lines, result } from './helpers.js';

function rejection(fn: () => unknown): BridgeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BridgeError) return e;
    throw e;
  }
  throw new Error('expected a BridgeError');
}

describe('sbatch submission', () => {
  it('builds `sbatch --parsable -- <script>`', () => {
    expect(slurmAdapter.submitCommand('/scratch/j/.hpcb/job.sh', { jobDir: '/scratch/j', tag: 't', bridgeJobId: 1, attempt: 1, defaults: {} })).toEqual([
      'sbatch', '--parsable', '--', '/scratch/j/.hpcb/job.sh',
    ]);
  });

  it.each([
    ['slurm-22.05/01-sbatch-parsable-exit0.txt', '5'],
    ['slurm-22.05/02-sbatch-parsable-exit3.txt', '6'],
    ['slurm-22.05/03a-cancel-sbatch.txt', '9'],
    ['slurm-22.05/03a-cancelpending-sbatch.txt', '8'],
    ['slurm-22.05/04a-timeout-sbatch.txt', '4'],
    ['slurm-22.05/05a-oom-sbatch.txt', '10'],
    ['slurm-22.05/06a-array-sbatch.txt', '11'],
    ['slurm-22.05/07a-dep-parent-ok.txt', '13'],
    ['slurm-22.05/07b-dep-parent-fail.txt', '14'],
    ['slurm-22.05/07c-dep-child-afterok-ok.txt', '15'],
    ['slurm-22.05/07d-dep-child-afterok-fail.txt', '16'],
    ['slurm-22.05/07e-dep-child-afternotok-fail.txt', '17'],
    // Accepted although they can never run (pitfall 14/15): a job id, then pending reasons.
    ['slurm-22.05/10c-time-over-partition-max.txt', '19'],
    ['slurm-22.05/10d-too-many-cpus.txt', '20'],
    ['slurm-22.05/10f-too-many-nodes.txt', '22'],
    ['slurm-22.05/10i-bad-dependency.txt', '23'],
    // The Torque wrapper's qsub prints sbatch's bare id too.
    ['slurm-22.05/12b-qsub-pbs-directives.txt', '29'],
    ['slurm-22.05/12o-qsub-v-env.txt', '30'],
  ])('%s → job %s', (rel, id) => {
    const r = fromFixture(rel);
    expect(r.exitCode).toBe(0);
    expect(slurmAdapter.parseSubmit(r)).toBe(id);
  });

  it('reads the non-parsable and cluster-suffixed forms too', () => {
    expect(parseSbatchSubmit(fromFixture('slurm-22.05/00-sbatch-plain.txt'))).toBe('7');
    const variants = lines(fixture('peers/slurm_sbatch_stdout_variants.txt'));
    expect(variants.map((l) => (/salloc/.test(l) ? null : parseSbatchSubmit(result(`${l}\n`))))).toEqual([
      '10', '630114', '65541', null, '630114',
    ]);
    // salloc's allocation line is not a batch submission.
    expect(() => parseSbatchSubmit(result('salloc: Granted job allocation 65537\n'))).toThrow(/no job id/);
    expect(parseSbatchSubmit(result('42\n', 0, 'sbatch: warning: can\'t honor --ntasks-per-node set to 2\n'))).toBe('42');
  });

  it('07j: an afterok on an already failed parent is still accepted', () => {
    const body = fixture('slurm-22.05/07j-dep-on-already-failed-parent.txt');
    expect(body).toContain('rc=0');
    expect(parseSbatchSubmit(result(body.replace(/rc=0\n?/, '')))).toBe('208');
  });

  it.each([
    ['slurm-22.05/10a-bad-partition.txt', 1, 'Invalid partition name specified'],
    ['slurm-22.05/10b-bad-time-format.txt', 255, 'Invalid --time specification'],
    ['slurm-22.05/10e-too-much-mem.txt', 1, 'Requested node configuration is not available'],
    ['slurm-22.05/10g-missing-script.txt', 1, 'Unable to open file nosuchfile.sh'],
    ['slurm-22.05/10h-no-shebang.txt', 1, 'This does not look like a batch script'],
    ['slurm-22.05/10j-bad-option.txt', 255, "unrecognized option '--bogus-option'"],
  ])('%s is a permanent SUBMIT_REJECTED (exit %i) carrying stderr', (rel, exit, message) => {
    const r = fromFixture(rel, 'stderr');
    expect(r.exitCode).toBe(exit);
    const e = rejection(() => slurmAdapter.parseSubmit(r));
    expect(e.code).toBe('SUBMIT_REJECTED');
    expect(e.transient).toBe(false);
    expect(e.message).toContain(message);
    expect(e.context.exitCode).toBe(exit);
    expect(e.context.command).toBe('sbatch');
    expect(e.context.stderr).toBe(r.stderr.trim());
    expect(e.describe()).toContain(`exit status: ${exit}`);
  });

  it('10o: limits enforced at submit (EnforcePartLimits=ALL) are rejections, one per sbatch', () => {
    const body = fixture('slurm-22.05/10o-enforcepartlimits-all.txt');
    const outputs = body.split(/^rc=1$/m).map((s) => s.trim()).filter(Boolean);
    expect(outputs).toHaveLength(3);
    const messages = outputs.map((stderr) => rejection(() => parseSbatchSubmit(result('', 1, `${stderr}\n`))));
    expect(messages.map((e) => e.code)).toEqual(['SUBMIT_REJECTED', 'SUBMIT_REJECTED', 'SUBMIT_REJECTED']);
    expect(messages.map((e) => e.message)).toEqual([
      'Slurm rejected the job (exit status 1): Batch job submission failed: Requested time limit is invalid (missing or exceeds some limit)',
      'Slurm rejected the job (exit status 1): Batch job submission failed: More processors requested than permitted',
      'Slurm rejected the job (exit status 1): Batch job submission failed: Node count specification invalid',
    ]);
  });

  it('12h: the qsub wrapper embeds sbatch\'s partition error; still a rejection', () => {
    const r = fromFixture('slurm-22.05/12h-qsub-bad-queue.txt', 'stderr');
    expect(r.exitCode).toBe(1);
    const e = rejection(() => parseSbatchSubmit(r));
    expect(e.code).toBe('SUBMIT_REJECTED');
    expect(r.stderr).toContain('Invalid partition name specified');
  });

  it('controller trouble is a transient SCHEDULER_ERROR (scheduler_stderr_messages.txt and a dead controller here)', () => {
    const msgs = lines(fixture('peers/scheduler_stderr_messages.txt'));
    const sbatchTimeout = msgs.find((l) => l.startsWith('sbatch:'))!;
    expect(sbatchTimeout).toBe('sbatch: error: Batch job submission failed: Socket timed out on send/recv operation');
    for (const stderr of [
      sbatchTimeout,
      // What the real sbatch 22.05.8 client prints when slurmctld is not listening (checked locally).
      'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)',
      'sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying',
      'sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user\'s size and/or time limits)',
    ]) {
      const e = rejection(() => parseSbatchSubmit(result('', 1, `${stderr}\n`)));
      expect(e.code, stderr).toBe('SCHEDULER_ERROR');
      expect(e.transient, stderr).toBe(true);
    }
    // The transient classifier knows every controller/database message in the peers' list,
    // and none of the "job is gone" ones.
    expect(msgs.filter(isTransientSlurmMessage)).toEqual([
      'slurm_load_jobs error: Socket timed out on send/recv operation',
      'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation',
      'sacct: error: Problem talking to the database: Connection timed out',
    ]);
  });

  it('a killed sbatch has an unknown outcome: transient, so the engine checks by tag before retrying', () => {
    const e = rejection(() => parseSbatchSubmit(result('', null)));
    expect(e.code).toBe('SCHEDULER_ERROR');
    expect(e.transient).toBe(true);
    expect(e.message).toContain('signal SIGKILL');
  });

  it('exit 0 without an id is a PARSE_ERROR, not a guess', () => {
    const e = rejection(() => parseSbatchSubmit(result('\n')));
    expect(e.code).toBe('PARSE_ERROR');
    expect(fixtureWithExit('slurm-22.05/01-sbatch-parsable-exit0.txt').exitCode).toBe(0);
  });
});
