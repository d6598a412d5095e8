import { describe, expect, it } from 'vitest';
import type { Observation } from '../../../src/domain/adapter.js';
import { BridgeError } from '../../../src/domain/errors.js';
import {
  SQUEUE_FORMAT,
  observationsFromSqueueRow,
  parseSlurmDuration,
  parseSqueueStatus,
  parseSqueueTable,
  splitFields,
} from '../../../adapters/slurm/parse.js';
import { slurmAdapter } from '../../../adapters/slurm/index.js';
import { fixture, fixtureWithExit } from '../../helpers/fixtures.js';
import { block, lines, result } from './helpers.js';

/** Observations of a header-led table, by id. */
function table(text: string, delimiter: string | RegExp = '|', header?: string[]): Map<string, Observation> {
  const obs = parseSqueueTable(text, delimiter, header).flatMap(observationsFromSqueueRow);
  return new Map(obs.map((o) => [o.nativeId, o]));
}

function brief(o: Observation | undefined): string {
  if (!o) return '(absent)';
  return [o.state, o.final?.kind, o.reason].filter(Boolean).join(' ');
}

describe('status command', () => {
  it('asks squeue once for all of the user\'s jobs, arrays expanded, finished ones included', () => {
    expect(slurmAdapter.statusCommand('hpcuser')).toEqual([
      'squeue', '--noheader', '--array', '--states=all', '--user=hpcuser', '--format=%i|%A|%F|%K|%T|%r|%j',
    ]);
    expect(SQUEUE_FORMAT).toBe('%i|%A|%F|%K|%T|%r|%j');
    expect(() => slurmAdapter.statusCommand('--all')).toThrow(BridgeError);
    expect(() => slurmAdapter.statusCommand('')).toThrow(BridgeError);
  });
});

describe('parseStatus (our format)', () => {
  it('06b: one line per element with -r; a collapsed pending row 11_[2-5] expands to the same elements', () => {
    const body = fixture('slurm-22.05/06b-array-squeue-early.txt');
    // The capture used %i|%A|%F|%K|%T|%r; ours adds %j at the end.
    const [collapsed, expanded] = body
      .split(/^JOBID\|JOBID\|ARRAY_JOB_ID\|ARRAY_TASK_ID\|STATE\|REASON$/m)
      .slice(1)
      .map((part) => lines(part.replace(/\[exit status: \d+\]/, '')).map((l) => `${l}|arr`).join('\n'));
    const a = slurmAdapter.parseStatus(result(`${collapsed}\n`));
    const b = slurmAdapter.parseStatus(result(`${expanded}\n`));
    const byId = (os: Observation[]) => os.map((o) => o).sort((x, y) => x.nativeId.localeCompare(y.nativeId));
    expect(byId(a)).toEqual(byId(b));
    expect(byId(b)).toEqual([
      { nativeId: '11_1', name: 'arr', state: 'running', nativeState: 'RUNNING', arrayId: '11', arrayIndex: 1 },
      ...[2, 3, 4, 5].map((i) => ({
        nativeId: `11_${i}`, name: 'arr', state: 'pending', nativeState: 'PENDING', reason: 'Resources', arrayId: '11', arrayIndex: i,
      })),
    ]);
  });

  it('keeps a delimiter inside a job name in the name (name is the last field)', () => {
    const [o] = slurmAdapter.parseStatus(result('123|123|123|N/A|RUNNING|None|odd|name|with|bars\n'));
    expect(o).toEqual({ nativeId: '123', name: 'odd|name|with|bars', state: 'running', nativeState: 'RUNNING' });
  });

  it('reports finished jobs with the kind squeue already knows (no exit code: pitfall 9)', () => {
    const out = [
      '4|4|4|N/A|TIMEOUT|TimeLimit|hpcb-4-a',
      '210|210|210|N/A|OUT_OF_MEMORY|OutOfMemory|hpcb-5-b',
      '16|16|16|N/A|PENDING|DependencyNeverSatisfied|hpcb-6-c',
      '29|29|29|N/A|BOGUS_STATE|None|hpcb-7-d',
    ].join('\n');
    const got = slurmAdapter.parseStatus(result(`${out}\n`));
    expect(got.map((o) => [o.nativeId, o.state, o.final])).toEqual([
      ['4', 'done', { kind: 'timeout', nativeState: 'TIMEOUT', reason: 'TimeLimit' }],
      ['210', 'done', { kind: 'out_of_memory', nativeState: 'OUT_OF_MEMORY', reason: 'OutOfMemory' }],
      ['16', 'done', { kind: 'dependency', nativeState: 'PENDING', reason: 'DependencyNeverSatisfied' }],
      ['29', 'unknown', undefined],
    ]);
  });

  it('no jobs is exit 0 with empty output; a failed or erroring squeue is a failed poll', () => {
    expect(slurmAdapter.parseStatus(result(''))).toEqual([]);
    // 10l / 17: what squeue says for a purged id with -j (we never use -j): exit 1.
    const r = fixtureWithExit('slurm-22.05/10l-squeue-unknown-job.txt');
    expect(r.exitCode).toBe(1);
    let e: unknown;
    try {
      parseSqueueStatus(result('', r.exitCode, r.body));
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(BridgeError);
    expect((e as BridgeError).code).toBe('SCHEDULER_ERROR');
    expect((e as BridgeError).transient).toBe(true);
    expect((e as BridgeError).message).toContain('slurm_load_jobs error: Invalid job id specified');
    const purged = fixture('slurm-22.05/17-minjobage.txt');
    expect(purged.match(/slurm_load_jobs error: Invalid job id specified/g)).toHaveLength(2);
    const timeout = lines(fixture('peers/scheduler_stderr_messages.txt')).find((l) => l.includes('Socket timed out') && l.startsWith('slurm_load_jobs'))!;
    expect(() => parseSqueueStatus(result('', 1, timeout))).toThrow(/Socket timed out/);
    // Exit 0, no output, an error on stderr: not "no jobs".
    expect(() => parseSqueueStatus(result('', 0, 'squeue: error: slurm_receive_msg: Socket timed out on send/recv operation\n'))).toThrow(BridgeError);
    expect(() => parseSqueueStatus(result('', 1, 'squeue: error: Invalid user: nobody\n'))).toThrow(
      expect.objectContaining({ transient: false }) as unknown as Error,
    );
    expect(() => parseSqueueStatus(result('garbage line\n'))).toThrow(expect.objectContaining({ code: 'PARSE_ERROR' }) as unknown as Error);
  });
});

describe('squeue captures from 22.05 (other formats, parsed by column name)', () => {
  it('03b / 03d: running, pending, then cancelled (a pending cancel keeps its last reason)', () => {
    const running = table(block(fixture('slurm-22.05/03b-cancel-squeue-running.txt'), /^JOBID/, /^\[exit/));
    expect(brief(running.get('9'))).toBe('running');
    const pending = table(block(fixture('slurm-22.05/03b-cancelpending-squeue-before.txt'), /^JOBID/, /^\[exit/));
    expect(brief(pending.get('8'))).toBe('pending Resources');
    const after = table(block(fixture('slurm-22.05/03d-cancel-after.txt'), /^JOBID\|STATE/, /^JobId=/));
    expect(brief(after.get('9'))).toBe('done cancelled');
    const afterPending = table(block(fixture('slurm-22.05/03d-cancelpending-after.txt'), /^JOBID\|STATE/, /^JobId=/));
    expect(brief(afterPending.get('8'))).toBe('done cancelled Resources');
  });

  it('04b / 04c: a 1-minute limit ends as TIMEOUT after 77 s', () => {
    const text = block(fixture('slurm-22.05/04b-timeout-after.txt'), /^JOBID/, /^JobId=/);
    expect(brief(table(text).get('4'))).toBe('done timeout TimeLimit');
    const row = lines(text)[1]!.split('|');
    expect(parseSlurmDuration(row[3])).toBe(77);
    expect(parseSlurmDuration(row[4])).toBe(60);
    const timeline = lines(fixture('slurm-22.05/04c-timeout-state-timeline.txt')).map((l) => {
      const [state, reason] = l.split(' ')[1]!.split('|');
      return brief(observationsFromSqueueRow({ id: '4', state: state!, reason: reason! })[0]);
    });
    expect(timeline).toEqual(['pending', 'running', 'done timeout TimeLimit']);
  });

  it('05b / 05c: polling memory kill is FAILED/JobLaunchFailure; cgroup kill is OUT_OF_MEMORY', () => {
    const b = block(fixture('slurm-22.05/05b-oom-after.txt'), /^JOBID/, /^JobId=/);
    expect(brief(table(b).get('10'))).toBe('done failed JobLaunchFailure');
    expect(parseSlurmDuration(lines(b)[1]!.split('|')[4])).toBe(365 * 86400);
    const c = table(block(fixture('slurm-22.05/05c-oom-cgroup-v1.txt'), /^JOBID/, /^JobState=/));
    expect(brief(c.get('209'))).toBe('done completed');
    expect(brief(c.get('210'))).toBe('done out_of_memory OutOfMemory');
  });

  it('06c: finished array elements keep their index; element 4 failed', () => {
    const t = table(block(fixture('slurm-22.05/06c-array-after.txt'), /^JOBID/, /^JobID\|JobName/));
    expect([...t.keys()].sort()).toEqual(['11_1', '11_2', '11_3', '11_4', '11_5']);
    expect(t.get('11_4')).toMatchObject({ arrayId: '11', arrayIndex: 4, state: 'done', final: { kind: 'failed', reason: 'NonZeroExitCode' } });
    expect(t.get('11_5')).toMatchObject({ arrayId: '11', arrayIndex: 5, final: { kind: 'completed' } });
  });

  it('07f / 07g / 07h / 07i: dependencies wait as pending; a failed parent leaves DependencyNeverSatisfied', () => {
    const before = table(block(fixture('slurm-22.05/07f-dep-squeue-before.txt'), /^JOBID/, /^\[exit/));
    expect(['13', '14', '15', '16', '17'].map((id) => brief(before.get(id)))).toEqual([
      'pending Priority', 'pending Priority', 'pending Dependency', 'pending Dependency', 'pending Dependency',
    ]);
    const after = table(block(fixture('slurm-22.05/07g-dep-after.txt'), /^JOBID/, /^JobId=/));
    expect(brief(after.get('14'))).toBe('done failed NonZeroExitCode');
    expect(brief(after.get('16'))).toBe('done dependency DependencyNeverSatisfied');
    expect(brief(after.get('17'))).toBe('done completed');
    const kill = table(block(fixture('slurm-22.05/07h-dep-kill-invalid-depend.txt'), /^JOBID/, /^JobID\|/));
    expect(brief(kill.get('205'))).toBe('done dependency DependencyNeverSatisfied');
    const flag = table(block(fixture('slurm-22.05/07i-dep-kill-on-invalid-dep-flag.txt'), /^JOBID/, /^JobID\|/));
    expect(flag.get('207')).toMatchObject({ state: 'done', nativeState: 'CANCELLED', final: { kind: 'dependency' } });
  });

  it('08a: every state of the session in one -t all listing', () => {
    const header = ['JOBID', 'NAME', 'USER', 'STATE', 'REASON', 'TIME', 'TIME_LIMIT', 'START_TIME', 'END_TIME', 'NODELIST', 'PARTITION', 'CPUS', 'MIN_MEMORY'];
    const t = table(block(fixture('slurm-22.05/08a-squeue-format.txt'), /^8\|/, /^\[exit/), '|', header);
    expect(t.size).toBe(28);
    expect(Object.fromEntries([...t].map(([id, o]) => [id, brief(o)]))).toMatchObject({
      '8': 'done cancelled Resources',
      '16': 'done dependency DependencyNeverSatisfied',
      '20': 'done cancelled PartitionConfig',
      '1': 'done completed',
      '11_5': 'done completed',
      '2': 'done failed NonZeroExitCode',
      '10': 'done failed JobLaunchFailure',
      '21': 'done failed BadConstraints',
      '28': 'pending Resources',
      '26': 'running',
      '4': 'done timeout TimeLimit',
      '19': 'done cancelled PartitionTimeLimit',
    });
    expect(t.get('26')?.name).toBe('q1');
  });

  it('08b: -O with an invalid field still exits 0 with output; JobArrayID wins over the raw JobID', () => {
    const { body, exitCode } = fixtureWithExit('slurm-22.05/08b-squeue-Format-long.txt');
    expect(exitCode).toBe(0);
    expect(body).toContain('squeue: error: Invalid job format specification: ExitCode');
    const t = table(body);
    expect(t.get('11_5')).toMatchObject({ arrayIndex: 5, name: 'arr', final: { kind: 'completed' } });
    expect(t.has('11')).toBe(false);
    expect(brief(t.get('25'))).toBe('(absent)'); // raw id of 11_4
    expect(brief(t.get('11_4'))).toBe('done failed NonZeroExitCode');
  });

  it('08c: the default fixed-width listing with compact codes', () => {
    const body = fixture('slurm-22.05/08c-squeue-default.txt');
    const [first, second] = body.split(/^(?=\s+JOBID PARTITION)/m).map((s) => s.replace(/\[exit status: \d+\]\s*$/, ''));
    const a = table(first!, /\s+/);
    expect(['28', '26', '27'].map((id) => brief(a.get(id)))).toEqual(['pending', 'running', 'running']);
    const b = table(second!, /\s+/);
    expect(brief(b.get('8'))).toBe('done cancelled');
    expect(brief(b.get('1'))).toBe('done completed');
    expect(b.get('9')?.nativeState).toBe('CA');
  });

  it('10n: accepted jobs that can never run stay pending with a partition reason', () => {
    const t = table(block(fixture('slurm-22.05/10n-pending-reasons-of-accepted-bad-jobs.txt'), /^JOBID/, /^\[exit/));
    expect(['20', '22', '23', '19'].map((id) => brief(t.get(id)))).toEqual([
      'pending PartitionConfig', 'pending PartitionNodeLimit', 'pending Priority', 'pending PartitionTimeLimit',
    ]);
  });

  it('15: after slurm-up (cgroups, slurmdbd): OOM, dependency, array elements', () => {
    const t = table(block(fixture('slurm-22.05/15-verify-after-slurm-up.txt'), /^JOBID\|STATE/));
    expect(brief(t.get('217'))).toBe('done out_of_memory OutOfMemory');
    expect(brief(t.get('219'))).toBe('done dependency DependencyNeverSatisfied');
    expect(t.get('218_2')).toMatchObject({ arrayId: '218', arrayIndex: 2, final: { kind: 'failed' } });
    expect(brief(t.get('216'))).toBe('done cancelled');
  });
});

describe('squeue output from other sites (peers)', () => {
  it('AiiDA ^^^-delimited, compact codes, holds and NOT_SET limits', () => {
    const header = ['JOBID', 'ST', 'REASON', 'BATCH_HOST', 'USER', 'NODES', 'CPUS', 'NODELIST', 'PARTITION', 'TIME_LIMIT', 'TIME', 'START_TIME', 'NAME', 'SUBMIT_TIME'];
    const text = fixture('peers/slurm_squeue_aiida_caret_delim.txt');
    const t = table(text, '^^^', header);
    expect(t.size).toBe(8);
    expect(brief(t.get('862540'))).toBe('pending Dependency');
    expect(brief(t.get('863313'))).toBe('held JobHeldUser');
    expect(brief(t.get('862538'))).toBe('running');
    expect(t.get('863100')?.name).toBe('eq_solve_e4.slm');
    const limits = lines(text).map((l) => l.split('^^^')[9]);
    expect(limits.map(parseSlurmDuration)).toEqual([86400, 600, 28800, 3600, 86400, 86400, 1800, undefined]);
  });

  it('pysqa |-delimited %A|%u|%t|%.15j|%Z', () => {
    const t = table(fixture('peers/slurm_squeue_pysqa_pipe.txt'), '|', ['JOBID', 'USER', 'ST', 'NAME', 'WORK_DIR']);
    expect([...t.values()].map((o) => [o.nativeId, o.state, o.name])).toEqual([
      ['5322019', 'running', 'pi_19576488'],
      ['5322016', 'running', 'pi_19576485'],
      ['5322017', 'running', 'pi_19576486'],
      ['5322018', 'running', 'pi_19576487'],
      ['5322013', 'running', 'pi_19576482'],
    ]);
  });

  it('OSC 0x1F-separated -O output with a header', () => {
    const t = table(fixture('peers/slurm_squeue_ood_unitsep_header.txt'), '\x1f');
    expect(brief(t.get('5096321'))).toBe('done completed');
    expect(brief(t.get('4320602'))).toBe('pending Resources');
    expect(t.get('4320602')?.name).toBe('LES-data-init');
  });

  it('OSC "null submit time": a name containing the separator shifts naive parsing; the name field absorbs it', () => {
    const text = fixture('peers/slurm_squeue_ood_null_submit_time.txt');
    const [head, first] = lines(text);
    const cols = head!.split('\x1f');
    const naive = first!.split('\x1f');
    expect(naive[cols.indexOf('SUBMIT_TIME')]).toBe('(null)'); // what a naive split reports
    const fields = splitFields(first!, '\x1f', cols.length, cols.indexOf('NAME'));
    expect(fields[cols.indexOf('NAME')]).toBe('cupd3_n_fcc_mix_n15\x1fcohp');
    expect(fields[cols.indexOf('SUBMIT_TIME')]).toBe('2026-03-10T12:34:28');
    expect(fields[cols.indexOf('STATE')]).toBe('RUNNING');
    expect(fields[cols.indexOf('REASON')]).toBe('None');
    const t = table(text, '\x1f');
    expect(brief(t.get('6779842'))).toBe('running');
    expect(brief(t.get('6783828'))).toBe('done timeout TimeLimit');
    expect(t.get('6787542')?.name).toBe('ondemand/sys/dashboard/sys/bc_osc_vmd');
  });
});
