import { describe, expect, it } from 'vitest';
import { observationFromScontrol, parseScontrolShowJob } from '../../../adapters/slurm/parse.js';
import { fixture, fixtureWithExit } from '../../helpers/fixtures.js';
import { block, lines } from './helpers.js';

function one(text: string): Record<string, string> {
  const recs = parseScontrolShowJob(text);
  expect(recs).toHaveLength(1);
  return recs[0]!;
}

describe('scontrol show job (tolerant reader)', () => {
  it('03d: one-line record; Command keeps its argument; cancelled while running is 0:15', () => {
    const rec = one(lines(fixture('slurm-22.05/03d-cancel-after.txt')).find((l) => l.startsWith('JobId='))!);
    expect(rec.Command).toBe('/home/hpcuser/jobs/sleep.sh 300');
    expect(rec.WorkDir).toBe('/home/hpcuser');
    expect(rec['AllocNode:Sid']).toBe('localhost:11189');
    expect(rec.TRES).toBe('cpu=1,mem=100M,node=1,billing=1');
    expect(rec.Power).toBe('');
    expect(observationFromScontrol(rec)).toEqual({
      nativeId: '9', name: 'sleeper', state: 'done', nativeState: 'CANCELLED',
      final: { kind: 'cancelled', nativeState: 'CANCELLED', exitCode: null, signal: 15, elapsedSeconds: 2, nodeList: 'vm', startTime: '2026-11-26T15:14:42', endTime: '2026-11-26T15:14:44' },
    });
  });

  it('03d (pending cancel) / 04b / 05b: reason kept, TIMEOUT 0:15, JobLaunchFailure 0:9 with 365-day limit', () => {
    const pend = observationFromScontrol(one(lines(fixture('slurm-22.05/03d-cancelpending-after.txt')).find((l) => l.startsWith('JobId='))!));
    expect(pend).toMatchObject({ nativeId: '8', reason: 'Resources', final: { kind: 'cancelled', exitCode: 0, signal: 0 } });
    expect(pend?.final?.nodeList).toBeUndefined();
    const to = one(lines(fixture('slurm-22.05/04b-timeout-after.txt')).find((l) => l.startsWith('JobId='))!);
    expect(observationFromScontrol(to)?.final).toMatchObject({ kind: 'timeout', exitCode: null, signal: 15, elapsedSeconds: 77, nodeList: 'vm' });
    expect(to.TimeLimit).toBe('00:01:00');
    const oom = one(lines(fixture('slurm-22.05/05b-oom-after.txt')).find((l) => l.startsWith('JobId='))!);
    expect(oom.TimeLimit).toBe('365-00:00:00');
    expect(oom.MinMemoryNode).toBe('50M');
    expect(observationFromScontrol(oom)).toMatchObject({ reason: 'JobLaunchFailure', final: { kind: 'failed', exitCode: null, signal: 9 } });
  });

  it('05c: a grepped fragment without JobId still reads', () => {
    const rec = one(block(fixture('slurm-22.05/05c-oom-cgroup-v1.txt'), /^JobState=/, /^JobID\|/));
    expect(rec).toEqual({ JobState: 'OUT_OF_MEMORY', Reason: 'OutOfMemory', ExitCode: '0:125' });
  });

  it('06c: array elements by ArrayJobId/ArrayTaskId (records cut at 400 characters)', () => {
    const recs = parseScontrolShowJob(block(fixture('slurm-22.05/06c-array-after.txt'), /^JobId=/, /^arr-/));
    const obs = recs.map(observationFromScontrol);
    expect(obs.map((o) => [o?.nativeId, o?.final?.kind, o?.final?.exitCode])).toEqual([
      ['11_5', 'completed', 0], ['11_4', 'failed', 4], ['11_3', 'completed', 0], ['11_2', 'completed', 0], ['11_1', 'completed', 0],
    ]);
    expect(recs[1]!.JobId).toBe('25');
  });

  it('07g: pending on a failed dependency', () => {
    const rec = one(lines(fixture('slurm-22.05/07g-dep-after.txt')).find((l) => l.startsWith('JobId='))!);
    expect(rec.Dependency).toBe('afterok:14(failed)');
    expect(observationFromScontrol(rec)).toMatchObject({ state: 'done', final: { kind: 'dependency' } });
  });

  it('10m: an unknown id is exit 1 and no record', () => {
    const { body, exitCode } = fixtureWithExit('slurm-22.05/10m-scontrol-unknown-job.txt');
    expect(exitCode).toBe(1);
    expect(parseScontrolShowJob(body)).toEqual([]);
  });

  it('11a / 11b / 11c: running one-liner, multi-line completed job, several one-liners', () => {
    const running = one(fixture('slurm-22.05/11a-scontrol-show-job-o-running.txt').replace(/\[exit status: \d+\]\s*$/, ''));
    expect(observationFromScontrol(running)).toEqual({ nativeId: '26', name: 'q1', state: 'running', nativeState: 'RUNNING' });
    expect(running.TimeLimit).toBe('365-00:00:00');
    expect(running.EndTime).toBe('2027-11-26T15:16:32');
    const multi = one(fixture('slurm-22.05/11b-scontrol-show-job-multiline-completed.txt').replace(/\[exit status: \d+\]\s*$/, ''));
    expect(multi).toMatchObject({ JobName: 'fail3', JobState: 'FAILED', Reason: 'NonZeroExitCode', ExitCode: '3:0', StdOut: '/home/hpcuser/out/fail3-6.out', 'CPUs/Task': '1' });
    expect(observationFromScontrol(multi)?.final).toMatchObject({ kind: 'failed', exitCode: 3, signal: 0 });
    const many = parseScontrolShowJob(fixture('slurm-22.05/11c-scontrol-show-job-o-all-completed-oneline.txt'));
    expect(many.map((r) => [r.JobId, r.JobState, r.ExitCode])).toEqual([['1', 'COMPLETED', '0:0'], ['2', 'FAILED', '3:0'], ['3', 'COMPLETED', '0:0']]);
  });

  it('12f / 12q: a qsub job seen through scontrol (Torque names for its logs; qdel is CANCELLED 0:15)', () => {
    const rec = one(fixture('slurm-22.05/12f-scontrol-of-qsub-job.txt').replace(/\[exit status: \d+\]\s*$/, ''));
    expect(rec).toMatchObject({ JobId: '29', JobName: 'pbsjob', TimeLimit: '00:02:00', StdErr: '/home/hpcuser/pbs.sh.e29', TRES: 'cpu=1,mem=200M,node=1,billing=1' });
    const q = one(block(fixture('slurm-22.05/12q-qdel-running.txt'), /^JobState=/, /^\[exit/));
    expect(q).toEqual({ JobState: 'CANCELLED', Reason: 'None', ExitCode: '0:15' });
  });

  it('peers (Toil): COMPLETED, RUNNING with a multi-word Command, PENDING with ReqNodeNotAvail', () => {
    const recs = parseScontrolShowJob(fixture('peers/slurm_scontrol_show_job_toil.txt'));
    expect(recs.map((r) => [r.JobId, r.JobState])).toEqual([['787204', 'COMPLETED'], ['789724', 'RUNNING'], ['789728', 'PENDING']]);
    expect(recs[1]!.Command).toBe('/project/rapthor/Software/prefactor/sbin/run_prefactor-cwltool.sh L721962 HBA_target');
    expect(recs[1]!.ExcNodeList).toBe('wn-ca-[01-02],wn-db-[01-06]');
    expect(recs[0]!.Command).toBe('(null)');
    const obs = recs.map(observationFromScontrol);
    expect(obs[0]?.final).toMatchObject({ kind: 'completed', exitCode: 0, elapsedSeconds: 5, nodeList: 'wn-hb-01' });
    expect(obs[2]).toMatchObject({ state: 'pending', reason: 'ReqNodeNotAvail,_UnavailableNodes:wn-db-05' });
  });
});
