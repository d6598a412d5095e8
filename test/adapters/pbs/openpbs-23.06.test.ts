/**
 * The PBS Pro adapter on outputs of a real OpenPBS 23.06.06 server (test/fixtures/openpbs-23.06/):
 * each case where the server's answer differed from what the adapter assumed from peers'
 * captures, and the ordinary ones it must keep reading the same way.
 *
 * Capture format: the first line names the command, its rc and the server; a capture of a failed
 * command carries its stderr on `# stderr:` lines (openpbsResult below).
 */
import { describe, expect, it } from 'vitest';
import { createPbsAdapter } from '../../../adapters/pbs/index.js';
import { parseFlavorProbe } from '../../../adapters/pbs/flavor.js';
import { parseQdelResult, parseQsubOutput, parseStatusResult } from '../../../adapters/pbs/parse.js';
import { renderPbsDirectives } from '../../../adapters/pbs/render.js';
import { parseJobSpec } from '../../../src/domain/jobSpec.js';
import { fixture, fixtureSource } from '../../helpers/fixtures.js';
import { fromFixture, result } from './helpers.js';

/** A capture (path under test/fixtures) as the ExecResult the adapter saw: rc from the source line, `# stderr:` lines as stderr. */
function openpbsResult(rel: string) {
  const rc = Number(/\| rc=(-?\d+) \|/.exec(fixtureSource(rel))?.[1] ?? 'NaN');
  const lines = fixture(rel).split('\n');
  const stderr = lines.filter((l) => l.startsWith('# stderr: ')).map((l) => `${l.slice('# stderr: '.length)}\n`).join('');
  const stdout = lines.filter((l) => !l.startsWith('# stderr: ')).join('\n');
  return result(stdout, rc, stderr);
}

const pbspro = createPbsAdapter({ flavor: 'pbspro' });
const observe = (name: string) => pbspro.parseStatus(openpbsResult(name));
const one = (name: string) => {
  const obs = observe(name);
  expect(obs).toHaveLength(1);
  return obs[0]!;
};

describe('OpenPBS 23.06 qsub and ids', () => {
  it('qsub prints N.<server>, arrays N[].<server>', () => {
    expect(parseQsubOutput(openpbsResult('openpbs-23.06/01_qsub_trivial.txt'))).toBe('0.vm');
    expect(parseQsubOutput(openpbsResult('openpbs-23.06/08_qsub_array.txt'))).toBe('3[].vm');
    expect(parseQsubOutput(openpbsResult('openpbs-23.06/14_qsub_dep_child.txt'))).toBe('5.vm');
    expect(parseQsubOutput(openpbsResult('openpbs-23.06/19_qsub_queued.txt'))).toBe('7.vm');
  });

  it('qselect lists one id per line (the status program hands them to qstat)', () => {
    expect(openpbsResult('openpbs-23.06/21_qselect.txt').stdout.trim().split('\n')).toEqual(['6.vm', '7.vm']);
  });
});

describe('OpenPBS 23.06 refuses a non-rerunnable array', () => {
  it('qsub -r n -J is a rejection, so arrays are rendered without -r n (single jobs keep it)', () => {
    expect(() => parseQsubOutput(openpbsResult('openpbs-23.06/40_qsub_non_rerunnable_array_refused.txt'))).toThrow(/cannot submit non-rerunable Array Job/);
    const spec = parseJobSpec({ tasks: [{ cmd: 'true' }] });
    const base = { jobDir: '/home/u/j', tag: 'hbx-1-0', bridgeJobId: 1, attempt: 0, defaults: {} };
    expect(renderPbsDirectives(spec, base, { flavor: 'pbspro' })).toContain('#PBS -r n');
    const array = renderPbsDirectives(spec, { ...base, array: { size: 24, parallel: 8 } }, { flavor: 'pbspro' });
    expect(array).toContain('#PBS -J 0-23%8');
    expect(array.some((l) => l.startsWith('#PBS -r'))).toBe(false);
    expect(renderPbsDirectives(spec, { ...base, array: { size: 24 } }, { flavor: 'torque' })).toContain('#PBS -r n');
  });
});

describe('OpenPBS 23.06 status (qstat -f -F json [-x] [-t])', () => {
  it('a running job', () => {
    expect(one('openpbs-23.06/02_qstat_f_F_json.txt')).toMatchObject({ nativeId: '0.vm', state: 'running', nativeState: 'R', name: 'trivial' });
  });

  it('exit 0, exit 3 and a walltime kill (-29) from history', () => {
    expect(one('openpbs-23.06/03_qstat_x_f_F_json_trivial.txt').final).toMatchObject({ kind: 'completed', exitCode: 0, nodeList: 'vm' });
    expect(one('openpbs-23.06/05_qstat_x_f_F_json_exit3.txt').final).toMatchObject({ kind: 'failed', exitCode: 3 });
    expect(one('openpbs-23.06/07_qstat_x_f_F_json_walltime.txt').final).toMatchObject({ kind: 'timeout', exitCode: null, reason: expect.stringMatching(/^walltime exceeded .*JOB_EXEC_KILL_WALLTIME/) });
  });

  it('qdel of a running job: Exit_status 271 with substate 91 is a deletion, not a failure', () => {
    // Before: kind failed, "killed by signal 15" — the same as any SIGTERM.
    expect(one('openpbs-23.06/31_qstat_x_f_F_json_qdel_running.txt').final).toMatchObject({ kind: 'cancelled', signal: 15, exitCode: null, reason: expect.stringMatching(/^deleted while running \(killed by signal 15/) });
    expect(openpbsResult('openpbs-23.06/30_qdel_running.txt').exitCode).toBe(0);
  });

  it('qdel of a queued job: F with no Exit_status at all is a deletion, not an unknown end', () => {
    // Before: kind unknown, which leaves the engine waiting for an exit file that never comes.
    expect(openpbsResult('openpbs-23.06/28_qdel_queued.txt').exitCode).toBe(0);
    const o = one('openpbs-23.06/29_qstat_x_f_F_json_qdel_queued.txt');
    expect(o).toMatchObject({ state: 'done', nativeState: 'F' });
    expect(o.final).toMatchObject({ kind: 'cancelled', exitCode: null, reason: expect.stringMatching(/^deleted before it ran/) });
  });

  it('an afterok child waits held (H, Hold_Types s) while its parent runs', () => {
    expect(one('openpbs-23.06/15_qstat_f_F_json_child_while_parent_runs.txt')).toMatchObject({ state: 'held', nativeState: 'H', reason: 'held (system): waiting on dependency afterok:4.vm@vm' });
  });

  it('an afterok child the server deleted after its parent failed says "dependency", not an unknown end', () => {
    // The server keeps it as F, substate 92, with no Exit_status and no comment: only `depend`
    // and the missing stime tell it from a job that ran. Before: kind unknown -> "lost".
    expect(fixture(`openpbs-23.06/17b_qstat_x_child_after_parent_failed.txt`)).toMatch(/^5\.vm +child +pbsuser +0 F workq/m);
    const o = one('openpbs-23.06/17_qstat_x_f_F_json_child_after_parent_failed.txt');
    expect(o.final).toMatchObject({ kind: 'dependency', exitCode: null, reason: 'deleted by the server: dependency afterok:4.vm@vm can no longer be met' });
  });

  it('an array: parent B then F, elements N[k].<server> only with -t, and the parent\'s Exit_status is a summary', () => {
    const running = observe('openpbs-23.06/09_qstat_t_f_F_json_array_running.txt');
    expect(running).toHaveLength(11);
    expect(running[0]).toMatchObject({ nativeId: '3[].vm', state: 'running', nativeState: 'B' });
    expect(running.slice(1).map((o) => [o.arrayId, o.arrayIndex])).toEqual(Array.from({ length: 10 }, (_, k) => ['3[].vm', k]));
    expect(running.filter((o) => o.state === 'running').map((o) => o.nativeId)).toEqual(['3[].vm', '3[0].vm', '3[1].vm']);

    const done = observe('openpbs-23.06/11_qstat_x_t_f_F_json_array_done.txt');
    expect(done.every((o) => o.state === 'done' && o.nativeState === 'F')).toBe(true);
    expect(done[0]!.final).toMatchObject({ kind: 'completed', exitCode: null, reason: 'every subjob exited 0' });
    expect(done.slice(1).every((o) => o.final?.kind === 'completed' && o.final.exitCode === 0)).toBe(true);
  });

  it('every job of a history listing (qstat -x -F json) reads', () => {
    const all = observe('openpbs-23.06/33_qstat_x_F_json_all.txt');
    expect(all.length).toBeGreaterThanOrEqual(8);
    expect(all.every((o) => o.state === 'done' && o.final !== undefined)).toBe(true);
    expect(all.find((o) => o.nativeId === '5.vm')!.final!.kind).toBe('dependency');
    expect(all.find((o) => o.nativeId === '7.vm')!.final!.kind).toBe('cancelled');
  });

  it('qstat -f -F json with no jobs prints a document without a "Jobs" key: no jobs, not a failed poll', () => {
    expect(parseStatusResult(fromFixture(`openpbs-23.06/36_qstat_f_F_json_no_jobs.txt`), 'pbspro').observations).toEqual([]);
  });

  it('with several ids, -F json answers with the first job only; the text format the status program uses lists them all', () => {
    // The reason PBSPRO_STATUS_PROGRAM reads text: with JSON every job after the first looked gone.
    expect(observe('openpbs-23.06/39_qstat_f_F_json_x_two_ids_first_only.txt').map((o) => o.nativeId)).toEqual(['2.vm']);
    const text = observe('openpbs-23.06/38_qstat_f_x_t_text_two_ids.txt');
    expect(text.map((o) => [o.nativeId, o.state, o.nativeState])).toEqual([['2.vm', 'done', 'F'], ['10.vm', 'pending', 'Q']]);
    // Wrapped values are joined, so the walltime kill reads as from JSON.
    expect(text[0]!.final).toMatchObject({ kind: 'timeout', exitCode: null });
    expect(text[1]!.reason).toBe('Not Running: Queue not started.');
  });

  it('an unknown id (rc 153) and a finished one (qdel rc 35) are not failures', () => {
    expect(parseStatusResult(openpbsResult('openpbs-23.06/35_qstat_unknown_job.txt'), 'pbspro').observations).toEqual([]);
    expect(() => parseQdelResult(openpbsResult('openpbs-23.06/34_qdel_finished_job.txt'), 'pbspro')).not.toThrow();
  });
});

describe('flavor detection (qstat --version)', () => {
  it('OpenPBS says pbs_version; the Torque wrappers refuse the option', () => {
    expect(parseFlavorProbe(openpbsResult('openpbs-23.06/37_qstat_version.txt'))).toMatchObject({ flavor: 'pbspro', version: '23.06.06' });
    expect(parseFlavorProbe(fromFixture('slurm-22.05/12w-qstat-version.txt', 'stderr'))).toMatchObject({ flavor: 'torque', implementation: expect.stringMatching(/wrappers/) });
  });

  it('a real Torque prints Version:, and nothing recognisable is unknown', () => {
    expect(parseFlavorProbe(result('Version: 6.1.3\nCommit: 5de5a0a\n'))).toMatchObject({ flavor: 'torque', implementation: 'Torque', version: '6.1.3' });
    expect(parseFlavorProbe(result('', 127, 'bash: qstat: command not found\n'))).toMatchObject({ flavor: 'unknown', implementation: 'no qstat' });
    expect(parseFlavorProbe(result('qstat 1.0\n'))).toMatchObject({ flavor: 'unknown' });
  });
});
