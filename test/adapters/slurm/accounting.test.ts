import { describe, expect, it } from 'vitest';
import type { FinalInfo } from '../../../src/domain/adapter.js';
import { BridgeError } from '../../../src/domain/errors.js';
import {
  SACCT_FIELDS,
  finalInfoFromSacct,
  looksLikeMemoryKill,
  parseSacctAccounting,
  parseSacctRecords,
  parseSlurmDuration,
  parseSlurmExitCode,
  parseSlurmMemory,
} from '../../../adapters/slurm/parse.js';
import { createSlurmAdapter, slurmAdapter } from '../../../adapters/slurm/index.js';
import { fixture, fixtureWithExit } from '../../helpers/fixtures.js';
import { block, lines, result } from './helpers.js';

/** A header-led `sacct -P` table (as captured without -n) to FinalInfo by id. */
function sacctTable(text: string, delimiter = '|'): Map<string, FinalInfo> {
  const [head, ...rest] = lines(text).filter((l) => !/^sacct: /.test(l));
  return finalInfoFromSacct(parseSacctRecords(rest.join('\n'), head!.split(delimiter), delimiter));
}

function summary(f: FinalInfo | undefined): string {
  if (!f) return '(absent)';
  return `${f.kind} ${f.exitCode === null ? '-' : String(f.exitCode)}:${String(f.signal)}`;
}

describe('accounting command', () => {
  it('one sacct for a batch of ids, name last, steps included', () => {
    expect(slurmAdapter.accountingCommand!(['10', '11_4', '12'], 'hpcuser')).toEqual([
      'sacct', '--parsable2', '--noheader',
      '--format=JobID,JobIDRaw,State,ExitCode,Reason,Elapsed,MaxRSS,NodeList,Start,End,JobName',
      '--jobs=10,11_4,12', '--user=hpcuser',
    ]);
    expect(SACCT_FIELDS.at(-1)).toBe('JobName');
  });

  it('refuses ids that are not Slurm job ids (an id like "--user=x" would be an option)', () => {
    expect(() => slurmAdapter.accountingCommand!(['--user=x'], 'u')).toThrow(BridgeError);
    expect(() => slurmAdapter.accountingCommand!([], 'u')).toThrow(BridgeError);
    expect(() => slurmAdapter.accountingCommand!(['1 2'], 'u')).toThrow(BridgeError);
  });

  it('jobcomp mode uses sacct -c with the fields it has; none offers no accounting', () => {
    const jc = createSlurmAdapter({ accounting: 'jobcomp' });
    expect(jc.accountingCommand!(['9'], 'hpcuser')).toEqual([
      'sacct', '-c', '--parsable2', '--noheader', '--format=JobID,State,ExitCode,Elapsed,NodeList,Start,End,JobName', '--jobs=9',
    ]);
    const none = createSlurmAdapter({ accounting: 'none' });
    expect(none.accountingCommand).toBeUndefined();
    expect(none.parseAccounting).toBeUndefined();
  });
});

describe('value parsers', () => {
  it('ExitCode <exit>:<signal>; a signal leaves no exit status', () => {
    expect(parseSlurmExitCode('3:0')).toEqual({ exitCode: 3, signal: 0 });
    expect(parseSlurmExitCode('0:9')).toEqual({ exitCode: null, signal: 9 });
    expect(parseSlurmExitCode('0:15')).toEqual({ exitCode: null, signal: 15 });
    expect(parseSlurmExitCode('0:125')).toEqual({ exitCode: null, signal: 125 });
    expect(parseSlurmExitCode('0:0')).toEqual({ exitCode: 0, signal: 0 });
    expect(parseSlurmExitCode('')).toBeUndefined();
  });

  it('durations and memory sizes', () => {
    expect(parseSlurmDuration('00:01:17')).toBe(77);
    expect(parseSlurmDuration('365-00:00:00')).toBe(31_536_000);
    expect(parseSlurmDuration('5-00:00:00')).toBe(432_000);
    expect(parseSlurmDuration('2-1')).toBe(2 * 86400 + 3600);
    expect(parseSlurmDuration('00:00:03.500')).toBe(3);
    for (const v of ['UNLIMITED', 'Partition_Limit', 'INVALID', 'NOT_SET', '', '1', 'N/A']) expect(parseSlurmDuration(v)).toBeUndefined();
    expect(parseSlurmMemory('92856K')).toBe(92856 * 1024);
    expect(parseSlurmMemory('0')).toBe(0);
    expect(parseSlurmMemory('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSlurmMemory('')).toBeUndefined();
  });
});

describe('parseAccounting (our format)', () => {
  it('allocation rows give state and exit code, step rows give MaxRSS, unfinished rows are left out', () => {
    const out = [
      '34|34|FAILED|0:9|None|00:00:01||vm|2026-11-26T15:18:30|2026-11-26T15:18:31|oom',
      '34.batch|34.batch|CANCELLED by 0|0:9||00:00:01|92856K|vm|2026-11-26T15:18:30|2026-11-26T15:18:31|batch',
      '34.extern|34.extern|COMPLETED|0:0||00:00:01|1024K|vm|2026-11-26T15:18:30|2026-11-26T15:18:31|extern',
      '35_1|37|COMPLETED|0:0|None|00:00:02||vm|2026-11-26T15:18:33|2026-11-26T15:18:35|hpcb-35|with|bars',
      '35_1.batch|37.batch|COMPLETED|0:0||00:00:02|4776K|vm|2026-11-26T15:18:33|2026-11-26T15:18:35|batch',
      '35_[3-5]|35|PENDING|0:0|None|00:00:00||None assigned|Unknown|Unknown|arr',
      '31|31|RUNNING|0:0|None|00:00:15||vm|2026-11-26T15:18:24|Unknown|sleeper',
      '36|36|CANCELLED by 1001|0:0|None|00:00:00||None assigned|2026-11-26T15:18:26|2026-11-26T15:18:26|sleeper',
    ].join('\n');
    const m = slurmAdapter.parseAccounting!(result(`${out}\n`));
    expect([...m.keys()]).toEqual(['34', '35_1', '36']);
    expect(m.get('34')).toEqual({
      kind: 'failed', nativeState: 'FAILED', exitCode: null, signal: 9, elapsedSeconds: 1, maxRssBytes: 92856 * 1024,
      nodeList: 'vm', startTime: '2026-11-26T15:18:30', endTime: '2026-11-26T15:18:31',
    });
    expect(m.get('35_1')).toMatchObject({ kind: 'completed', exitCode: 0, signal: 0, maxRssBytes: 4776 * 1024 });
    expect(m.get('36')).toEqual({
      kind: 'cancelled', nativeState: 'CANCELLED by 1001', exitCode: 0, signal: 0, elapsedSeconds: 0,
      startTime: '2026-11-26T15:18:26', endTime: '2026-11-26T15:18:26',
    });
  });

  it('a plain CANCELLED with reason Dependency is --kill-on-invalid-dep (07i), not a person\'s cancel', () => {
    const m = slurmAdapter.parseAccounting!(result('207|207|CANCELLED|0:0|Dependency|00:00:00||None assigned|Unknown|Unknown|wrap\n'));
    expect(summary(m.get('207'))).toBe('dependency 0:0');
  });

  it('errors: disabled accounting is permanent, a database outage is transient', () => {
    const disabled = fixtureWithExit('slurm-22.05/09b-sacct-default-no-accounting.txt');
    expect(disabled.exitCode).toBe(1);
    expect(() => parseSacctAccounting(result('', 1, disabled.body))).toThrow(expect.objectContaining({ code: 'SCHEDULER_ERROR', transient: false }) as unknown as Error);
    // 09c: sacct --json without slurmdbd (exit status is the pipe's; the message is what matters).
    const json = fixture('slurm-22.05/09c-sacct-json-no-accounting.txt');
    expect(json).toContain('slurm not configured with slurmdbd');
    expect(() => parseSacctAccounting(result('', 1, json))).toThrow(expect.objectContaining({ transient: false }) as unknown as Error);
    const db = lines(fixture('peers/scheduler_stderr_messages.txt')).find((l) => l.startsWith('sacct:'))!;
    expect(() => parseSacctAccounting(result('', 1, db))).toThrow(expect.objectContaining({ transient: true, message: expect.stringContaining('Problem talking to the database') }) as unknown as Error);
    // 03d: jobcomp/filetxt unreadable for the user (pitfall 3): transient from here, fixed by the admin.
    const perm = fixtureWithExit('slurm-22.05/03d-cancelpending-after.txt');
    expect(perm.exitCode).toBe(1);
    const fatal = lines(perm.body).find((l) => l.startsWith('sacct: fatal'))!;
    expect(() => parseSacctAccounting(result('', 1, fatal), 'jobcomp')).toThrow(/Permission denied/);
  });
});

describe('sacct captures from 22.05 (slurmdbd)', () => {
  it('13a: every finished kind, CANCELLED by <uid>, array elements, pending array rows left out', () => {
    const m = sacctTable(fixture('slurm-22.05/13a-sacct-slurmdbd-parsable2.txt').replace(/\[exit status: \d+\]\s*$/, ''));
    expect(Object.fromEntries(['2', '4', '8', '9', '10', '11_4', '11_5', '21', '30', '33', '34', '36'].map((id) => [id, summary(m.get(id))]))).toEqual({
      '2': 'failed 3:0',
      '4': 'timeout -:15',
      '8': 'cancelled 0:0',
      '9': 'cancelled -:15',
      '10': 'failed -:9',
      '11_4': 'failed 4:0',
      '11_5': 'completed 0:0',
      '21': 'failed 1:0',
      '30': 'cancelled -:15',
      '33': 'failed 3:0',
      '34': 'failed -:9',
      '36': 'cancelled 0:0',
    });
    expect(m.get('36')?.nativeState).toBe('CANCELLED by 1001');
    expect(m.get('8')?.nodeList).toBeUndefined(); // "None assigned"
    expect(m.get('19')?.reason).toBe('PartitionTimeLimit');
    expect(m.has('31')).toBe(false); // RUNNING
    expect(['35_3', '35_4', '35_5', '35_[3-5]'].some((id) => m.has(id))).toBe(false); // PENDING
    expect(m.get('35_2')).toMatchObject({ kind: 'completed', elapsedSeconds: 2 });
    expect(m.get('26')?.elapsedSeconds).toBe(60);
  });

  it('13b: step rows carry MaxRSS; the polling memory kill shows as FAILED 0:9 with a batch step "CANCELLED by 0"', () => {
    const m = sacctTable(fixture('slurm-22.05/13b-sacct-slurmdbd-with-steps.txt').replace(/\[exit status: \d+\]\s*$/, ''));
    expect(m.get('34')).toMatchObject({ kind: 'failed', exitCode: null, signal: 9, maxRssBytes: 92856 * 1024 });
    expect(m.get('35_1')?.maxRssBytes).toBe(4776 * 1024);
    expect(m.get('33')).toMatchObject({ kind: 'failed', exitCode: 3 });
    expect(m.has('31')).toBe(false);
    expect(m.has('34.batch')).toBe(false);
  });

  it('13c: fixed-width sacct truncates to CANCELLED+ (parsed by columns)', () => {
    const rows = lines(fixture('slurm-22.05/13c-sacct-slurmdbd-default.txt')).slice(2, -1).map((l) => l.trim().split(/\s+/));
    const recs = rows.map((f) => ({ JobID: f[0]!, State: f.at(-2)!, ExitCode: f.at(-1)! }));
    const m = finalInfoFromSacct(recs);
    expect(summary(m.get('36'))).toBe('cancelled 0:0');
    expect(m.get('36')?.nativeState).toBe('CANCELLED+');
    expect(summary(m.get('34'))).toBe('failed -:9');
    expect(summary(m.get('4'))).toBe('timeout -:15');
  });

  it('13d: sacct --json in 22.05 says exit 3 is SUCCESS/0 while sacct -P says 3:0 (pitfall 11: why we avoid it)', () => {
    const summaryText = fixture('slurm-22.05/13d-sacct-json.txt');
    expect(summaryText).toContain("job 33 state= {'current': 'FAILED', 'reason': 'None'} exit_code= {'status': 'SUCCESS', 'return_code': 0}");
    const json = JSON.parse(fixture('slurm-22.05/13d-sacct-json-full.json.txt')) as {
      jobs: { job_id: number; state: { current: string }; exit_code: { status: string; return_code: number | null; signal?: { signal_id: number } } }[];
    };
    const j33 = json.jobs.find((j) => j.job_id === 33)!;
    expect(j33.state.current).toBe('FAILED');
    expect(j33.exit_code).toMatchObject({ status: 'SUCCESS', return_code: 0 });
    const j34 = json.jobs.find((j) => j.job_id === 34)!;
    expect(j34.exit_code.signal?.signal_id).toBe(9); // signals are right
    const plain = sacctTable(fixture('slurm-22.05/13a-sacct-slurmdbd-parsable2.txt').replace(/\[exit status: \d+\]\s*$/, ''));
    expect(plain.get('33')?.exitCode).toBe(3);
  });

  it('05c / 15 / 17 / 12r: OOM 0:125, CANCELLED by <uid>, pending on a failed dependency, qsub jobs', () => {
    const c = sacctTable(block(fixture('slurm-22.05/05c-oom-cgroup-v1.txt'), /^JobID\|State/, /^start /));
    expect(c.get('210')).toMatchObject({ kind: 'out_of_memory', exitCode: null, signal: 125, maxRssBytes: 0 });
    const v = sacctTable(block(fixture('slurm-22.05/15-verify-after-slurm-up.txt'), /^JobID\|/, /^JOBID\|/));
    expect(Object.fromEntries([...v].map(([id, f]) => [id, summary(f)]))).toEqual({
      '214': 'completed 0:0',
      '215': 'failed 3:0',
      '216': 'cancelled 0:0',
      '217': 'out_of_memory -:125',
      '219': 'dependency 0:0',
      '220': 'failed 2:0',
      '218_1': 'failed 1:0',
      '218_2': 'failed 2:0',
      '218_3': 'failed 3:0',
    });
    expect(v.get('219')?.nativeState).toBe('PENDING');
    const gone = sacctTable(block(fixture('slurm-22.05/17-minjobage.txt'), /^JobID\|/, /^=>/));
    expect(summary(gone.get('214'))).toBe('completed 0:0');
    const q = sacctTable(block(fixture('slurm-22.05/12r-qsub-with-spank-pbs-exit5.txt'), /^JobID\|/, /^\[exit/));
    expect(summary(q.get('41'))).toBe('failed 5:0');
  });

  it('07h / 07i: a dependent job pending forever vs one cancelled by --kill-on-invalid-dep', () => {
    const h = sacctTable(block(fixture('slurm-22.05/07h-dep-kill-invalid-depend.txt'), /^JobID\|/));
    expect(summary(h.get('204'))).toBe('failed 3:0');
    expect(summary(h.get('205'))).toBe('dependency 0:0');
    const i = sacctTable(block(fixture('slurm-22.05/07i-dep-kill-on-invalid-dep-flag.txt'), /^JobID\|/));
    expect(summary(i.get('207'))).toBe('dependency 0:0');
    expect(i.get('207')?.reason).toBe('Dependency');
  });
});

describe('sacct -c captures (jobcomp/filetxt, no slurmdbd)', () => {
  it('03d / 04b: cancel and timeout show 0:0 here, where scontrol says 0:15: decide by State', () => {
    const d = sacctTable(block(fixture('slurm-22.05/03d-cancel-after.txt'), /^JobID\|State/, /^start /));
    expect(d.get('9')).toMatchObject({ kind: 'cancelled', exitCode: 0, signal: 0, elapsedSeconds: 2 });
    const t = sacctTable(block(fixture('slurm-22.05/04b-timeout-after.txt'), /^JobID\|State/, /^start /));
    expect(t.get('4')).toMatchObject({ kind: 'timeout', exitCode: 0, elapsedSeconds: 77 });
  });

  it('05b: the polling memory kill is FAILED 0:9; only the job\'s stderr says it was memory', () => {
    const body = fixture('slurm-22.05/05b-oom-after.txt');
    const f = sacctTable(block(body, /^JobID\|State/, /^start /));
    expect(f.get('10')).toMatchObject({ kind: 'failed', exitCode: null, signal: 9 });
    const jobOutput = block(body, /^start /, /^\[exit/);
    expect(looksLikeMemoryKill(jobOutput)).toBe(true);
    expect(looksLikeMemoryKill(block(body, /^JOBID/, /^start /))).toBe(false);
  });

  it('06c / 06d / 09a: array elements appear under raw ids, with "Unknown type" noise', () => {
    const c = sacctTable(block(fixture('slurm-22.05/06c-array-after.txt'), /^JobID\|JobName/, /^JobId=/));
    expect([...c.keys()]).toEqual(['11']);
    const d = sacctTable(fixture('slurm-22.05/06d-array-sacct-all.txt').replace(/\[exit status: \d+\]\s*$/, ''));
    expect([...d.keys()]).toEqual(['12', '11']);
    const all = sacctTable(fixture('slurm-22.05/09a-sacct-completion-parsable2.txt').replace(/\[exit status: \d+\]\s*$/, ''));
    expect(all.size).toBe(25);
    expect(summary(all.get('25'))).toBe('failed 4:0'); // element 11_4 under its raw id
    expect(summary(all.get('21'))).toBe('failed -:1');
    expect(summary(all.get('10'))).toBe('failed -:9');
    expect(all.get('8')?.nodeList).toBeUndefined(); // "(null)"
    expect(all.get('1')).toMatchObject({ kind: 'completed', nodeList: 'vm', startTime: '2026-11-26T15:13:33' });
  });
});

describe('sacct output from other sites (peers)', () => {
  it('Toil: JobIDRaw,State,ExitCode with .batch/.extern/.0 steps and "CANCELLED by <uid>"', () => {
    const recs = parseSacctRecords(fixture('peers/slurm_sacct_toil_jobidraw_state_exitcode.txt'), ['JobID', 'State', 'ExitCode']);
    const m = finalInfoFromSacct(recs);
    expect(Object.fromEntries([...m].map(([id, f]) => [id, summary(f)]))).toEqual({
      '609663': 'failed -:2',
      '754725': 'timeout 0:0',
      '765096': 'failed -:9',
      '767925': 'failed 2:0',
      '785023': 'failed 127:0',
      '789456': 'failed 1:0',
      '789869': 'completed 0:0',
    });
  });

  it('OSC: 0x1F-delimited --units G with CANCELLED by 1001 and Unknown start/end', () => {
    const fields = ['User', 'Group', 'JobID', 'JobName', 'Elapsed', 'ReqMem', 'AllocCPUS', 'ReqCPUS', 'Timelimit', 'State', 'TotalCPU', 'MaxRSS', 'Partition', 'Submit', 'Start', 'End', 'ReqTRES'];
    const recs = parseSacctRecords(fixture('peers/slurm_sacct_ood_unitsep.txt'), fields, '\x1f');
    expect(recs.map((r) => r.State)).toEqual(['PENDING', 'RUNNING', 'CANCELLED by 1001']);
    expect(parseSlurmMemory(recs[0]!.ReqMem)).toBe(Math.round(0.98 * 1024 ** 3));
    const m = finalInfoFromSacct(recs);
    expect([...m.keys()]).toEqual(['5963565']);
    expect(m.get('5963565')).toMatchObject({ kind: 'cancelled', elapsedSeconds: 3, startTime: '2026-02-11T15:13:00', endTime: '2026-02-11T15:13:03' });
  });

  it('buildtest (NERSC Cori): -X with many fields; ExitCode,WorkDir alone', () => {
    const fields = ['Account', 'AllocNodes', 'AllocTRES', 'ConsumedEnergyRaw', 'CPUTimeRaw', 'Elapsed', 'End', 'ExitCode', 'JobID', 'JobName', 'NCPUS', 'NNodes', 'QOS', 'ReqMem', 'ReqNodes', 'Start', 'State', 'Submit', 'UID', 'User', 'WorkDir'];
    const m = finalInfoFromSacct(parseSacctRecords(fixture('peers/slurm_sacct_buildtest_cori.txt'), fields));
    expect(m.get('42909266')).toMatchObject({ kind: 'completed', exitCode: 0, elapsedSeconds: 8, startTime: '2021-05-27T18:47:41', endTime: '2021-05-27T18:47:49' });
    const [ec, workdir] = lines(fixture('peers/slurm_sacct_buildtest_exitcode_workdir.txt'))[0]!.split('|');
    expect(parseSlurmExitCode(ec)).toEqual({ exitCode: 0, signal: 0 });
    expect(workdir).toMatch(/\/stage$/);
  });
});
