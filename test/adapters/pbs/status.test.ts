import { describe, expect, it } from 'vitest';
import type { Observation } from '../../../src/domain/adapter.js';
import {
  detectStatusFormat,
  finalFromRecord,
  parseAccountingResult,
  parseDuration,
  parsePbsTime,
  parsePbsproJson,
  parseQstatFullText,
  parseSize,
  parseStatusResult,
  parseStatusText,
  parseTorqueXml,
  recordToObservation,
  refusedStatusOption,
} from '../../../adapters/pbs/parse.js';
import { fixture } from '../../helpers/fixtures.js';
import { body, fromFixture, result, section, thrown } from './helpers.js';

function observe(text: string, flavor: 'pbspro' | 'torque'): Observation[] {
  return parseStatusResult(result(text), flavor).observations;
}

function byId(obs: Observation[]): Map<string, Observation> {
  return new Map(obs.map((o) => [o.nativeId, o]));
}

describe('PBS Pro qstat -f -F json -x', () => {
  it('peers/pbspro_qstat_xf_json_finished_job_buildtest.txt: a finished job with its history', () => {
    const obs = observe(fixture('peers/pbspro_qstat_xf_json_finished_job_buildtest.txt'), 'pbspro');
    expect(obs).toEqual([
      {
        nativeId: '40.pbs',
        name: 'pbs_sleep',
        state: 'done',
        nativeState: 'F',
        reason: 'Job run at Wed Mar 17 at 20:36 on (pbs:ncpus=1) and finished',
        final: {
          kind: 'completed',
          exitCode: 0,
          signal: null,
          nativeState: 'F',
          reason: 'exit status 0',
          elapsedSeconds: 10,
          maxRssBytes: 5620 * 1024,
          nodeList: 'pbs',
          startTime: '2021-03-17T20:36:48',
        },
      },
    ]);
  });

  it('the same job as accounting (qstat -f -F json -x <ids>)', () => {
    const m = parseAccountingResult(result(fixture('peers/pbspro_qstat_xf_json_finished_job_buildtest.txt')), 'pbspro');
    expect([...m.keys()]).toEqual(['40.pbs']);
    expect(m.get('40.pbs')!.kind).toBe('completed');
  });

  it('reads the strict JSON without warnings and drops Variable_List', () => {
    const r = parsePbsproJson(fixture('peers/pbspro_qstat_xf_json_finished_job_buildtest.txt'));
    expect(r.strategy).toBe('strict');
    expect(r.warnings).toEqual([]);
    expect(Object.keys(r.jobs[0]!.attrs).some((k) => k.startsWith('Variable_List'))).toBe(false);
    expect(r.jobs[0]!.attrs['Resource_List.select']).toBe('1:ncpus=1');
  });

  it('regression JSON through the status path: -29 is a timeout, an unescaped quote is not a failed poll', () => {
    const obs = byId(observe(fixture('regressions/pbspro_qstat_fxj_unescaped_quotes.txt'), 'pbspro'));
    expect(obs.get('1201.pbs01')).toMatchObject({ state: 'running', nativeState: 'R', name: 'hb0a1b2c-17-1' });
    expect(obs.get('1202.pbs01')!.final).toMatchObject({ kind: 'timeout', exitCode: null, reason: 'walltime exceeded (Exit_status -29, JOB_EXEC_KILL_WALLTIME)', elapsedSeconds: 3607 });
  });

  it('array subjobs carry their parent id and index; salvaged records still give a state', () => {
    const obs = observe(fixture('regressions/pbspro_qstat_fxj_truncated_array.txt'), 'pbspro');
    expect(obs.map((o) => [o.nativeId, o.state, o.arrayId, o.arrayIndex])).toEqual([
      ['3001[].pbs01', 'running', undefined, undefined],
      ['3001[0].pbs01', 'done', '3001[].pbs01', 0],
      ['3001[1].pbs01', 'running', '3001[].pbs01', 1],
      ['3001[2].pbs01', 'pending', '3001[].pbs01', 2],
    ]);
    expect(obs[1]!.final!.kind).toBe('completed');
  });
});

describe('qstat -f text (PBS Pro, Torque, wrappers)', () => {
  it('peers/pbspro_qstat_f_aiida_multi_job.txt: six jobs, TAB continuations joined without spaces', () => {
    const text = fixture('peers/pbspro_qstat_f_aiida_multi_job.txt');
    const recs = parseQstatFullText(text);
    expect(recs.map((r) => r.id)).toEqual(['68350.mycluster', '68351.mycluster', '69301.mycluster', '69302.mycluster', '74164.mycluster', '74165.mycluster']);
    expect(recs[0]!.attrs['Error_Path']).toBe('mycluster.cluster:/home/usernum1/scratch/cptest/scaletest/PTOscaletest/testjob.err');
    expect(recs[0]!.attrs['Output_Path']).toBe('mycluster.cluster:/home/usernum1/scratch/cptest/scaletest/PTOscaletest/testjob.out');
    expect(recs[2]!.attrs['exec_vnode']).toBe('(b141:ncpus=16)+(b142:ncpus=16)+(b143:ncpus=16)+(b144:ncpus=16)');
    expect(recs[2]!.attrs['depend']).toBe('afterok:69299.mycluster@mycluster.cluster,beforeok:69302.mycluster@mycluster.cluster');
    expect(recs[2]!.attrs['Resource_List.select']).toBe('4:ncpus=16');
    // A value followed by a blank line before the next attribute keeps no trailing newline.
    expect(recs[4]!.attrs['comment']).toBe('Job run at Mon Apr 22 at 07:17 on (b270:ncpus=16)+(b275:ncpus=16)');
    expect(recs.every((r) => r.attrs['Variable_List'] === undefined)).toBe(true);

    const obs = observe(text, 'pbspro');
    expect(obs.map((o) => [o.nativeId, o.state, o.nativeState])).toEqual([
      ['68350.mycluster', 'pending', 'Q'],
      ['68351.mycluster', 'pending', 'Q'],
      ['69301.mycluster', 'running', 'R'],
      ['69302.mycluster', 'held', 'H'],
      ['74164.mycluster', 'running', 'R'],
      ['74165.mycluster', 'held', 'H'],
    ]);
    expect(obs[0]!.reason).toBe('Not Running: Node is in an ineligible state: offline');
    expect(obs[3]!.reason).toBe('held (system): waiting on dependency afterok:69301.mycluster@mycluster.cluster');
    expect(obs[3]!.name).toBe('Cu-dbp');
    expect(obs.every((o) => o.final === undefined)).toBe(true);
  });

  it('peers/pbspro_qstat_f_aiida_unexpected_newlines.txt: raw newlines inside values, blank lines, finished jobs', () => {
    const text = fixture('peers/pbspro_qstat_f_aiida_unexpected_newlines.txt');
    const recs = parseQstatFullText(text);
    expect(recs).toHaveLength(10);
    const last = recs.at(-1)!;
    expect(last.id).toBe('543984');
    expect(last.attrs['sched_hint']!.split('\n')).toEqual([
      'Post job file processing error; job 543984 on host r2i7n17',
      '',
      'Unable to copy file 543984.OU to /some/path/on/the/cluster/MHDsomething_Mp=318.,NVF=1e5,tau=0.10,ddZ,AD,1T,iFlr,xyz.o543984, error 1',
      '*** error from copy',
      "/bin/cp: cannot stat `543984.OU': No such file or directory",
      '*** end error output',
      '',
      'Unable to copy file 543984.ER to /some/path/on/the/cluster/something_Mp=318.,NVF=1e5,tau=0.10,ddZ,AD,1T,iFlr,xyz.e543984, error 1',
      '*** error from copy',
      "/bin/cp: cannot stat `543984.ER': No such file or directory",
      '*** end error output',
    ]);
    expect(last.attrs['etime']).toBe('Wed Jun 17 09:16:05 2015');
    expect(recs[0]!.attrs['Error_Path']).toBe('host.domain:/some/path/to/sth/ASSP-1R-p/more/down/the/path/ASSP-1R.e549159');
    expect(recs[4]!.attrs['Error_Path']).toBe('server.domain:/path/to/error/file');
    expect(recs[4]!.attrs['Output_Path']).toBe('server.domain:/path/to/output/file7');

    const obs = observe(text, 'torque');
    expect(obs.map((o) => o.state)).toEqual(['held', 'running', 'running', 'done', 'pending', 'pending', 'pending', 'pending', 'pending', 'done']);
    const killed = obs[3]!;
    expect(killed.final).toMatchObject({ kind: 'failed', signal: 15, exitCode: null, nativeState: 'C', elapsedSeconds: 6 * 3600 + 12 * 60 + 22 });
    expect(killed.final!.reason).toBe('killed by signal 15 (SIGTERM) (Exit_status 271 = 256+15)');
    expect(killed.final!.nodeList).toBe('r2i7n16,r2i6n14,r2i6n1,r1i7n8');
    expect(obs[0]!.reason).toBe('held (system): waiting on dependency afterok:549158.service1.head.cb3.ichec.ie@service1.cb3.ichec.ie');
  });

  it('peers/torque_qstat_f_buildtest_completed.txt: state C with exit_status 0, 8-space continuations', () => {
    const text = fixture('peers/torque_qstat_f_buildtest_completed.txt');
    const [rec] = parseQstatFullText(text);
    expect(rec!.attrs['Error_Path']).toBe(
      'e4spro-cluster:/home/adaptive50/Documents/buildtest/var/tests/generic.torque.e4spro/sleep/hostname_test/b10fea47/stage/hostname_test.e',
    );
    expect(rec!.attrs['submit_args']).toBe(
      '-q e4spro-cluster /home/adaptive50/Documents/buildtest/var/tests/generic.torque.e4spro/sleep/hostname_test/b10fea47/stage/hostname_test.sh',
    );
    expect(rec!.attrs['req_information.task_usage.0.task.0.cpu_list']).toBe('0');
    const [o] = observe(text, 'torque');
    expect(o).toMatchObject({ nativeId: '40680075.e4spro-cluster', name: 'hostname_test', state: 'done', nativeState: 'C' });
    expect(o!.final).toMatchObject({ kind: 'completed', exitCode: 0, elapsedSeconds: 5, nodeList: 'ac-d160-0-0', startTime: '2024-03-25T17:42:32', endTime: '2024-03-25T17:42:38' });
  });

  it('slurm-22.05/12d-qstat-f-running.txt: the wrappers\' tab-indented format', () => {
    const r = fromFixture('slurm-22.05/12d-qstat-f-running.txt');
    expect(detectStatusFormat(r.stdout)).toBe('text');
    expect(parseStatusResult(r, 'torque').observations).toEqual([{ nativeId: '29', name: 'pbsjob', state: 'pending', nativeState: 'Q' }]);
    expect(parseQstatFullText(r.stdout)[0]!.attrs).toMatchObject({ Job_Owner: 'hpcuser@localhost', euser: 'hpcuser(1001)', 'Resource_List.walltime': '00:02:00', 'Resource_List.ncpus': '1' });
  });

  it('slurm-22.05/12p-qstat-running.txt: running', () => {
    const text = section(body('slurm-22.05/12p-qstat-running.txt'), /^Job Id:/);
    expect(observe(text, 'torque')).toEqual([{ nativeId: '30', name: 'pbsjob', state: 'running', nativeState: 'R' }]);
  });

  it('slurm-22.05/12n-qstat-pbsjob-completed.txt: the wrappers print C with no exit_status, so the outcome is unknown', () => {
    const text = section(body('slurm-22.05/12n-qstat-pbsjob-completed.txt'), /^Job Id:/);
    const [o] = observe(text, 'torque');
    expect(o).toMatchObject({ nativeId: '29', state: 'done', nativeState: 'C' });
    expect(o!.final).toMatchObject({ kind: 'unknown', exitCode: null, nativeState: 'C', nodeList: 'vm' });
    expect(o!.final!.reason).toMatch(/no exit status/);
    // The wrappers' mtime/ctime are start and end, not PBS's meanings: they are not reported.
    expect(o!.final!.startTime).toBeUndefined();
  });

  it('slurm-22.05/12s-qstat-f-oom-state-U.txt: the wrappers print U for an OOM-killed job (sacct: OUT_OF_MEMORY); torque reads it as done, unknown how', () => {
    const text = section(body('slurm-22.05/12s-qstat-f-oom-state-U.txt'), /^Job Id:/, /^\d+\|/);
    const [o] = observe(text, 'torque');
    expect(o).toMatchObject({ nativeId: '1610', name: 'oomjob', state: 'done', nativeState: 'U' });
    expect(o!.final).toMatchObject({ kind: 'unknown', exitCode: null, nativeState: 'U', nodeList: 'vm' });
    expect(o!.final!.reason).toMatch(/OUT_OF_MEMORY and DEADLINE/);
    // The same record on PBS Pro would be a suspended job (U = workstation busy there).
    expect(observe(text, 'pbspro')[0]).toMatchObject({ state: 'suspended', nativeState: 'U' });
    expect(body('slurm-22.05/12s-qstat-f-oom-state-U.txt')).toMatch(/^1610\|OUT_OF_MEMORY\|/m);
  });

  it('slurm-22.05/12l-qstat-f-completed.txt: a queued and a failed (exit 3) job; C says nothing of the failure', () => {
    const text = section(body('slurm-22.05/12l-qstat-f-completed.txt'), /^Job Id:/, /^vm:/);
    const obs = observe(text, 'torque');
    expect(obs.map((o) => [o.nativeId, o.name, o.state, o.final?.kind])).toEqual([
      ['29', 'pbsjob', 'pending', undefined],
      ['6', 'fail3', 'done', 'unknown'],
    ]);
    // "Unlimited" walltime on the wrappers.
    expect(parseDuration(parseQstatFullText(text)[1]!.attrs['Resource_List.walltime'])).toBe(71582788 * 3600 + 15 * 60);
  });

  it('slurm-22.05/12r-qsub-with-spank-pbs-exit5.txt: exit 5 in sacct, still just C in qstat', () => {
    const captured = body('slurm-22.05/12r-qsub-with-spank-pbs-exit5.txt');
    const stateLine = captured.split('\n').find((l) => l.includes('job_state'))!;
    expect(stateLine).toBe('\tjob_state = C');
    expect(captured).toContain('41|FAILED|5:0');
    const [o] = observe(`Job Id:\t41\n${stateLine}\n\n`, 'torque');
    expect(o!.final!.kind).toBe('unknown');
  });
});

describe('Torque qstat -x XML', () => {
  it('peers/torque_qstat_x_xml_fyrd.txt: every job, array parent and elements on another server', () => {
    const text = fixture('peers/torque_qstat_x_xml_fyrd.txt');
    const obs = observe(text, 'torque');
    expect(obs.map((o) => [o.nativeId, o.name, o.state, o.nativeState, o.arrayId, o.arrayIndex, o.final?.kind])).toEqual([
      ['665199.superserver.stanford.edu', 'int_tmux', 'running', 'R', undefined, undefined, undefined],
      ['667999.superserver.stanford.edu', 'map_It3_Ir4', 'pending', 'Q', undefined, undefined, undefined],
      ['673174.superserver.stanford.edu', 'STDIN', 'done', 'C', undefined, undefined, 'completed'],
      ['673175[].superserver.stanford.edu', 't.sh', 'done', 'C', undefined, undefined, 'unknown'],
      // Torque names elements "<name>-<index>"; the adapter gives back the array's name.
      ['673175[19].fruster.stanford.edu', 't.sh', 'done', 'C', '673175[].fruster.stanford.edu', 19, 'completed'],
      ['673175[20].fruster.stanford.edu', 't.sh', 'done', 'C', '673175[].fruster.stanford.edu', 20, 'completed'],
    ]);
    // exit_status -3 on a running job (a restart) is history, not an outcome.
    expect(obs[0]!.final).toBeUndefined();
    expect(obs[2]!.final).toMatchObject({ startTime: '2016-11-30T23:10:22Z', endTime: '2016-11-30T23:10:22Z', nodeList: 'node04' });
    const recs = parseTorqueXml(text).jobs;
    expect(recs[0]!.attrs['exit_status']).toBe('-3');
    expect(recs[0]!.attrs['resources_used.walltime']).toBe('335:34:49');
    expect(recs[0]!.attrs['Resource_List.nodes']).toBe('1:ppn=1');
    expect(recs.every((r) => r.attrs['Variable_List'] === undefined && r.attrs['submit_args'] === undefined)).toBe(true);
  });

  it('keeps numeric-looking text as text and reads a single job as a list', () => {
    const xml = '<Data><Job><Job_Id>00123.srv</Job_Id><Job_Name>007</Job_Name><job_state>C</job_state><exit_status>000</exit_status><session_id>0042</session_id></Job></Data>';
    const { jobs } = parseTorqueXml(xml);
    expect(jobs).toEqual([{ id: '00123.srv', attrs: { Job_Name: '007', job_state: 'C', exit_status: '000', session_id: '0042' } }]);
    expect(recordToObservation(jobs[0]!, 'torque').final!.kind).toBe('completed');
  });

  it('no jobs: empty output (Torque < 6.1) or an empty <Data/>', () => {
    expect(parseTorqueXml('').jobs).toEqual([]);
    expect(parseTorqueXml('<Data></Data>\n').jobs).toEqual([]);
    expect(parseTorqueXml('<Data/>').jobs).toEqual([]);
    expect(observe('', 'torque')).toEqual([]);
  });

  it('regressions/torque_qstat_x_unescaped_text.txt: a broken <Job> is salvaged, the others read in full', () => {
    const r = parseTorqueXml(fixture('regressions/torque_qstat_x_unescaped_text.txt'));
    expect(r.warnings).toEqual(['qstat -x output is not well-formed XML; reading job by job', 'job 4100.torque01: salvaged by pattern']);
    expect(r.jobs.map((j) => [j.id, j.attrs['job_state'], j.partial ?? false])).toEqual([
      ['4100.torque01', 'R', true],
      ['4101.torque01', 'C', false],
    ]);
    const o = recordToObservation(r.jobs[1]!, 'torque');
    // SIGKILL with the walltime used up: a walltime kill, not a plain failure.
    expect(o.final).toMatchObject({ kind: 'timeout', signal: 9, exitCode: null });
    expect(o.final!.reason).toBe('walltime exceeded (used 00:10:02 of 00:10:00); killed by signal 9 (SIGKILL) (Exit_status 265 = 256+9)');
  });
});

describe('how a finished job ended, from its own record', () => {
  const rec = (attrs: Record<string, string>) => ({ id: '7.s', attrs: { job_state: 'F', ...attrs } });

  it('a signal kill with memory near the request is out_of_memory; with neither limit reached it stays failed', () => {
    expect(finalFromRecord(rec({ Exit_status: '265', 'resources_used.mem': '3900000kb', 'Resource_List.mem': '4gb' }), 'pbspro')).toMatchObject({
      kind: 'out_of_memory',
      signal: 9,
      reason: 'memory limit exceeded (used 3.72 GB of 4.00 GB); killed by signal 9 (SIGKILL) (Exit_status 265 = 256+9)',
    });
    expect(finalFromRecord(rec({ Exit_status: '137', 'resources_used.mem': '4194304kb', 'Resource_List.mem': '4gb' }), 'pbspro').kind).toBe('out_of_memory');
    expect(finalFromRecord(rec({ Exit_status: '271', 'resources_used.mem': '1gb', 'Resource_List.mem': '4gb', 'resources_used.walltime': '00:01:00', 'Resource_List.walltime': '01:00:00' }), 'pbspro').kind).toBe('failed');
    // A plain non-zero exit is the script's business, whatever the usage.
    expect(finalFromRecord(rec({ Exit_status: '1', 'resources_used.walltime': '02:00:00', 'Resource_List.walltime': '01:00:00' }), 'pbspro').kind).toBe('failed');
  });

  it("Torque's -10 (older Torque: any limit) becomes a timeout when the walltime ran out", () => {
    expect(finalFromRecord(rec({ job_state: 'C', exit_status: '-10', 'resources_used.walltime': '01:00:05', 'Resource_List.walltime': '01:00:00' }), 'torque').kind).toBe('timeout');
    expect(finalFromRecord(rec({ job_state: 'C', exit_status: '-10' }), 'torque').kind).toBe('out_of_memory');
  });

  it('no exit status: a dependency that can never be met, or unknown', () => {
    expect(finalFromRecord(rec({ comment: 'Job deleted as result of dependency on job 5.s' }), 'pbspro').kind).toBe('dependency');
    expect(finalFromRecord(rec({}), 'pbspro')).toMatchObject({ kind: 'unknown', exitCode: null, reason: 'finished (state F) with no exit status' });
  });

  it('units and times', () => {
    expect(parseSize('5620kb')).toBe(5620 * 1024);
    expect(parseSize('4gb')).toBe(4 * 1024 ** 3);
    expect(parseSize('200mb')).toBe(200 * 1024 ** 2);
    expect(parseSize('1024')).toBe(1024);
    expect(parseSize('2kw')).toBe(2 * 8 * 1024);
    expect(parseSize('lots')).toBeUndefined();
    expect(parseDuration('00:00:10')).toBe(10);
    expect(parseDuration('335:34:49')).toBe(335 * 3600 + 34 * 60 + 49);
    expect(parseDuration('90')).toBe(90);
    expect(parsePbsTime('Tue Apr  9 15:01:47 2013')).toBe('2013-04-09T15:01:47');
    expect(parsePbsTime('1480547422')).toBe('2016-11-30T23:10:22Z');
    expect(parsePbsTime('yesterday')).toBeUndefined();
  });
});

describe('the status command result', () => {
  it('slurm-22.05/12e-qstat-x-running.txt: the wrappers refuse -x; the error says to use text', () => {
    const r = fromFixture('slurm-22.05/12e-qstat-x-running.txt', 'stderr');
    expect(r.exitCode).toBe(2);
    expect(refusedStatusOption(r)).toBe('x');
    const e = thrown(() => parseStatusResult(r, 'torque', ['qstat', '-x', '-t']));
    expect(e.code).toBe('SCHEDULER_ERROR');
    expect(e.transient).toBe(false);
    expect(e.context).toMatchObject({ statusFormatRefused: 'xml', suggestedStatusFormat: 'text', exitCode: 2 });
    expect(refusedStatusOption(result('', 0))).toBeUndefined();
  });

  it('exit 153 with no output is the wrappers saying "no jobs" (their qstat defaults to rc 153)', () => {
    expect(parseStatusResult(result('', 153), 'torque').observations).toEqual([]);
    // With something on stderr it is a real failure.
    expect(thrown(() => parseStatusResult(result('', 153, 'qstat: cannot connect to server pbs01 (errno=111)\n'), 'torque')).transient).toBe(true);
  });

  it('peers/scheduler_stderr_messages.txt: "Unknown Job Id" on stderr is a job that left, not a failed poll', () => {
    const msg = fixture('peers/scheduler_stderr_messages.txt').split('\n').find((l) => l.startsWith('qstat: Unknown Job Id'))!;
    expect(msg).toBe('qstat: Unknown Job Id Error 3685292.mgt.meerkat.mcri.edu.au');
    const json = fixture('peers/pbspro_qstat_xf_json_finished_job_buildtest.txt');
    // xargs exits 123 when one qstat run failed.
    const obs = parseStatusResult(result(json, 123, `${msg}\n`), 'pbspro').observations;
    expect(obs.map((o) => o.nativeId)).toEqual(['40.pbs']);
    // Socket time-outs and anything else are failures.
    const other = fixture('peers/scheduler_stderr_messages.txt').split('\n').find((l) => l.includes('Socket timed out'))!;
    expect(thrown(() => parseStatusResult(result(json, 1, `${msg}\n${other}\n`), 'pbspro')).code).toBe('SCHEDULER_ERROR');
  });

  it('a killed qstat, and output that is no qstat format, are errors', () => {
    expect(thrown(() => parseStatusResult(result('', null), 'pbspro')).transient).toBe(true);
    const e = thrown(() => parseStatusResult(result('Job id  Name  User\n------ ----\n1 x u\n'), 'pbspro'));
    expect(e.code).toBe('PARSE_ERROR');
  });

  it('detects the format from the output', () => {
    expect(detectStatusFormat('')).toBe('empty');
    expect(detectStatusFormat('\n<Data></Data>')).toBe('xml');
    expect(detectStatusFormat('{\n "Jobs": {}}')).toBe('json');
    expect(detectStatusFormat('junk\nJob Id: 1.s\n    job_state = R\n')).toBe('text');
    expect(detectStatusFormat('hello')).toBe('unrecognised');
    expect(parseStatusText('{"timestamp":1,"pbs_server":"s"}').jobs).toEqual([]);
  });
});

describe('PBS Pro array jobs as a whole', () => {
  it("the array's Exit_status summarises its subjobs and is no script's exit code", () => {
    const arr = (v: string) => finalFromRecord({ id: '3001[].pbs01', attrs: { job_state: 'F', Exit_status: v } }, 'pbspro');
    expect(arr('0')).toMatchObject({ kind: 'completed', exitCode: null, reason: 'every subjob exited 0' });
    expect(arr('1')).toMatchObject({ kind: 'failed', exitCode: null, reason: 'at least one subjob exited non-zero' });
    expect(arr('2')).toMatchObject({ kind: 'failed', exitCode: null });
    expect(arr('7').kind).toBe('unknown');
    // A subjob's own status is read as usual.
    expect(finalFromRecord({ id: '3001[4].pbs01', attrs: { job_state: 'X', Exit_status: '2' } }, 'pbspro')).toMatchObject({ kind: 'failed', exitCode: 2 });
  });
});

describe('option refusals', () => {
  it('recognises both the wrappers\' Perl Getopt and a getopt-based qstat', () => {
    expect(refusedStatusOption(result('', 2, "qstat: invalid option -- 't'\nusage: qstat ...\n"))).toBe('t');
    expect(refusedStatusOption(result('', 2, 'Unknown option: x\n'))).toBe('x');
  });
});
