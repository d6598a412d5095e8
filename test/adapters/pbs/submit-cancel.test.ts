import { describe, expect, it } from 'vitest';
import { createPbsAdapter } from '../../../adapters/pbs/index.js';
import { parseQdelResult, parseQsubOutput } from '../../../adapters/pbs/parse.js';
import { parseQstatTable } from '../../../adapters/pbs/tables.js';
import { fixture } from '../../helpers/fixtures.js';
import { body, fromFixture, result, thrown } from './helpers.js';

const pbspro = createPbsAdapter({ flavor: 'pbspro' });
const torque = createPbsAdapter({ flavor: 'torque' });

describe('qsub', () => {
  it('submits the script as the only argument', () => {
    expect(pbspro.submitCommand('job.pbs', {} as never)).toEqual(['qsub', 'job.pbs']);
    const ctx = { jobDir: '/s/jobs/4', tag: 'hb0a1b2c-4-0', bridgeJobId: 4, attempt: 0, defaults: {} };
    // Torque repeats the scheduler log paths on the command line (the wrappers ignore #PBS -o/-e).
    expect(torque.submitCommand('/s/jobs/4/.hpcb/job.pbs', ctx)).toEqual(['qsub', '-o', '/s/jobs/4/.hpcb/scheduler.out', '-e', '/s/jobs/4/.hpcb/scheduler.err', '/s/jobs/4/.hpcb/job.pbs']);
    expect(pbspro.submitCommand('-weird.sh', {} as never)).toEqual(['qsub', './-weird.sh']);
    expect(() => pbspro.submitCommand('a\nb', {} as never)).toThrow();
  });

  it('peers/pbs_qsub_stdout_variants.txt: the id is the whole line, server suffix included', () => {
    const ids = fixture('peers/pbs_qsub_stdout_variants.txt').split('\n').filter((l) => l.trim() !== '');
    expect(ids).toEqual(['10.localhost', '1584288.biocluster.igb.illinois.edu']);
    for (const id of ids) expect(pbspro.parseSubmit(result(`${id}\n`))).toBe(id);
  });

  it('slurm-22.05/12b-qsub-pbs-directives.txt and 12o-qsub-v-env.txt: the wrappers print a bare id', () => {
    expect(torque.parseSubmit(fromFixture('slurm-22.05/12b-qsub-pbs-directives.txt'))).toBe('29');
    expect(torque.parseSubmit(fromFixture('slurm-22.05/12o-qsub-v-env.txt'))).toBe('30');
  });

  it('array ids, and notices printed before the id', () => {
    expect(parseQsubOutput(result('123[].pbs01\n'))).toBe('123[].pbs01');
    expect(parseQsubOutput(result('qsub: site notice: project defaulted\n\n4567.pbs01.example.org\n'))).toBe('4567.pbs01.example.org');
  });

  it('exit 0 without an id: the job may exist, so the error is transient and says so', () => {
    const e = thrown(() => parseQsubOutput(result('Submitted, maybe\n')));
    expect(e.code).toBe('PARSE_ERROR');
    expect(e.transient).toBe(true);
    expect(e.context['mayHaveSubmitted']).toBe(true);
  });

  it('slurm-22.05/12h-qsub-bad-queue.txt: a rejection names sbatch\'s own error', () => {
    const r = fromFixture('slurm-22.05/12h-qsub-bad-queue.txt');
    expect(r.exitCode).toBe(1);
    const e = thrown(() => torque.parseSubmit(r));
    expect(e.code).toBe('SUBMIT_REJECTED');
    expect(e.transient).toBe(false);
    expect(e.message).toBe('the scheduler rejected the job: invalid partition specified: nosuch; Batch job submission failed: Invalid partition name specified');
  });

  it('PBS rejections are SUBMIT_REJECTED; an unreachable or busy server is transient', () => {
    const rejected = thrown(() => parseQsubOutput(result('', 170, 'qsub: Unknown queue\n')));
    expect(rejected).toMatchObject({ code: 'SUBMIT_REJECTED', transient: false, message: 'the scheduler rejected the job: qsub: Unknown queue' });
    expect(thrown(() => parseQsubOutput(result('', 188, 'qsub: Job exceeds queue resource limits MSG=cannot satisfy queue max walltime requirement\n'))).code).toBe('SUBMIT_REJECTED');
    for (const msg of [
      'qsub: cannot connect to server pbs01 (errno=111) Connection refused\n',
      "qsub: would exceed complex's per-user limit of jobs in 'Q' state\n",
      'qsub: Maximum number of jobs already in queue MSG=total number of jobs in queue exceeds the queue limit\n',
      'pbs_iff: cannot read reply from pbs_server\nNo Permission.\n',
    ]) {
      expect(thrown(() => parseQsubOutput(result('', 1, msg)))).toMatchObject({ code: 'SCHEDULER_ERROR', transient: true });
    }
    // The wrappers embed sbatch's message; a controller time-out stays transient.
    const timeout = fixture('peers/scheduler_stderr_messages.txt').split('\n').find((l) => l.startsWith('sbatch: error: Batch job submission failed: Socket'))!;
    const wrapped = `There was an error running the Slurm sbatch command.\nThe command was:\n'/usr/bin/sbatch job.pbs 2>&1'\nand the output was:\n'${timeout}\n'\n`;
    expect(thrown(() => torque.parseSubmit(result(wrapped, 1)))).toMatchObject({ code: 'SCHEDULER_ERROR', transient: true });
    expect(thrown(() => parseQsubOutput(result('', null)))).toMatchObject({ code: 'SCHEDULER_ERROR', transient: true });
    expect(thrown(() => parseQsubOutput(result('', 1)))).toMatchObject({ code: 'SCHEDULER_ERROR', transient: true });
  });
});

describe('qdel', () => {
  it('cancels a batch of ids, and only ids', () => {
    expect(pbspro.cancelCommand(['12.pbs01', '13[].pbs01', '13[4].pbs01'])).toEqual(['qdel', '12.pbs01', '13[].pbs01', '13[4].pbs01']);
    expect(torque.cancelCommand(['29'])).toEqual(['qdel', '29']);
    expect(() => pbspro.cancelCommand(['-W', 'force'])).toThrow();
    expect(() => pbspro.cancelCommand([])).toThrow();
  });

  it('slurm-22.05/12g-qdel-queued.txt: qdel exits 0, the job shows C; an unknown id exits 1 silently', () => {
    const text = body('slurm-22.05/12g-qdel-queued.txt');
    expect(text).toContain('qdel rc=0');
    expect(parseQstatTable(text)).toEqual([{ id: '28', name: 'q3', user: 'hpcuser', state: 'C', queue: 'debug' }]);
    expect(text).toMatch(/^qdel unknown rc=1$/m);
    // What the wrappers' qdel gave for `qdel 999999`: nothing at all, exit 1.
    expect(() => torque.parseCancel(result('', 1))).not.toThrow();
    expect(() => torque.parseCancel(result('', 0))).not.toThrow();
  });

  it('slurm-22.05/12q-qdel-running.txt: a running job is cancelled; Slurm knows, qstat shows only C', () => {
    const text = body('slurm-22.05/12q-qdel-running.txt');
    expect(text).toMatch(/^rc=0$/m);
    expect(parseQstatTable(text)).toEqual([{ id: '30', name: 'pbsjob', user: 'hpcuser', state: 'C', queue: 'debug' }]);
    expect(text).toContain('JobState=CANCELLED');
    expect(() => torque.parseCancel(result('', 0))).not.toThrow();
  });

  it('a job that is already gone is not an error, whatever the flavor says', () => {
    const gone = [
      ['qdel: Unknown Job Id 123.pbs01\n', 153],
      ['qdel: Job 123.pbs01 has finished\n', 35],
      ['qdel: Request invalid for state of job 123.pbs01\n', 168],
      ['qdel: Unknown Job Id Error 3685292.mgt.meerkat.mcri.edu.au\n', 153],
      ['qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE 55.torque01\n', 168],
      ['qdel: Kill job error on job id 31: Job/step already completing or completed\n', 1],
    ] as const;
    for (const [msg, code] of gone) {
      expect(() => pbspro.parseCancel(result('', code, msg)), msg).not.toThrow();
      expect(() => torque.parseCancel(result(msg, code)), msg).not.toThrow();
    }
    // PBS Pro's own exit codes are enough when the message is missing.
    expect(() => parseQdelResult(result('', 153), 'pbspro')).not.toThrow();
  });

  it('anything else is a failed cancel; permission problems are not worth retrying', () => {
    const denied = thrown(() => pbspro.parseCancel(result('', 159, 'qdel: Unauthorized Request  123.pbs01\n')));
    expect(denied).toMatchObject({ code: 'SCHEDULER_ERROR', transient: false, message: 'qdel failed: qdel: Unauthorized Request  123.pbs01' });
    const mixed = thrown(() => pbspro.parseCancel(result('', 1, 'qdel: Unknown Job Id 1.s\nqdel: cannot connect to server pbs01 (errno=111)\n')));
    expect(mixed.transient).toBe(true);
    expect(mixed.message).toBe('qdel failed: qdel: cannot connect to server pbs01 (errno=111)');
    expect(thrown(() => pbspro.parseCancel(result('', 2))).code).toBe('SCHEDULER_ERROR');
    expect(thrown(() => torque.parseCancel(result('', null))).transient).toBe(true);
  });
});
