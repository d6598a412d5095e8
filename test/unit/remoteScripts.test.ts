import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evidenceProgram as renderEvidenceProgram, parseEvidenceOutput } from '../../src/jobdir/evidence.js';
import { parseSubmitProgramOutput, submitProgram as renderSubmitProgram } from '../../src/jobdir/submit.js';

/** Run a remote program's argv (`bash -c <program> <name> <args...>`) here. */
const bash = (argv: readonly string[]) => execFileSync(argv[0]!, argv.slice(1)).toString();

describe('exactly-once submit program', () => {
  it('records the submit result on the cluster and never runs the submit twice', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-submit-'));
    const counter = join(dir, 'count');
    const argv = ['sh', '-c', 'echo x >> "$1"; echo 4242; echo note >&2', 'fake-sbatch', counter];
    const items = [
      { key: '7', jobDir: dir, attempt: 0, tryNo: 0, argv },
      { key: '8', jobDir: join(dir, 'missing'), attempt: 0, tryNo: 0, argv },
    ];
    const first = parseSubmitProgramOutput(bash(renderSubmitProgram(items)));
    const second = parseSubmitProgramOutput(bash(renderSubmitProgram(items)));
    expect(first.get('7')).toEqual({ key: '7', kind: 'result', exitCode: 0, stdout: '4242\n', stderr: 'note\n' });
    expect(second.get('7')).toEqual(first.get('7'));
    expect(first.get('8')).toEqual({ key: '8', kind: 'nodir' });
    expect(readFileSync(counter, 'utf8')).toBe('x\n');
    expect(readFileSync(join(dir, '.hpcb', 'submit.0.0.out'), 'utf8')).toBe('4242\n');
    // a new try (after a transient failure) does submit again
    const third = parseSubmitProgramOutput(bash(renderSubmitProgram([{ ...items[0]!, tryNo: 1 }])));
    expect(third.get('7')).toMatchObject({ kind: 'result', exitCode: 0 });
    expect(readFileSync(counter, 'utf8')).toBe('x\nx\n');
  });

  it('passes hostile arguments literally', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-submit-'));
    const canary = join(dir, 'canary');
    const evil = `$(touch ${canary}) \`touch ${canary}\` ' " ; | &`;
    const out = parseSubmitProgramOutput(bash(renderSubmitProgram([{ key: 'k', jobDir: dir, attempt: 0, tryNo: 0, argv: ['printf', '%s', evil] }])));
    expect(out.get('k')).toMatchObject({ stdout: evil });
    expect(existsSync(canary)).toBe(false);
  });

  it('returns each stream byte for byte, whatever it holds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-submit-'));
    const cases: Array<[string, string]> = [
      ['id', '4242\n'],
      ['cluster', '4242;lab\n'],
      ['pbs-array', '4242[].server.example\n'],
      ['no-newline', '4242'],
      ['two-lines', '4242\nmore\n'],
      ['spaces', 'Submitted batch job 7\n'],
      ['utf8', 'job \u00e9t\u00e9 \u2713\n'],
    ];
    const items = cases.map(([key, text], i) => ({ key, jobDir: dir, attempt: 0, tryNo: i, argv: ['sh', '-c', 'printf %s "$1"; printf %s "$1" >&2', 'x', text] }));
    const raw = bash(renderSubmitProgram(items));
    const out = parseSubmitProgramOutput(raw);
    for (const [key, text] of cases) expect(out.get(key)).toEqual({ key, kind: 'result', exitCode: 0, stdout: text, stderr: text });
    // The usual answer travels as text, not base64.
    expect(raw).toContain('@@HPCB-SUBMIT id 0 r:4242 r:4242');
    expect(raw).toContain('@@HPCB-SUBMIT pbs-array 0 r:4242[].server.example ');
  });

  it('submits a batch in parallel groups, each job once, and answers every job', async () => {
    const root = mkdtempSync(join(tmpdir(), 'hpcb-submit-'));
    const log = join(root, 'log');
    const items = Array.from({ length: 9 }, (_, i) => {
      const jobDir = join(root, `job${i}`);
      mkdirSync(jobDir);
      return { key: String(i), jobDir, attempt: 0, tryNo: 0, argv: ['sh', '-c', 'sleep 0.2; echo "$1" >> "$2"; echo "$1"', 'fake', String(100 + i), log] };
    });
    const program = renderSubmitProgram(items, { parallel: 4 });
    // Four groups: the submit commands of one program run under four different parent shells.
    const parents = join(root, 'parents');
    const probe = Array.from({ length: 9 }, (_, i) => ({ key: `p${i}`, jobDir: root, attempt: 1, tryNo: i, argv: ['sh', '-c', 'echo "$PPID" >> "$1"; echo 1', 'fake', parents] }));
    bash(renderSubmitProgram(probe, { parallel: 4 }));
    expect(new Set(readFileSync(parents, 'utf8').trim().split('\n')).size).toBe(4);
    // Two programs at once (a restarted daemon while the first still runs): the locks keep it to one submit per job.
    const run = () => new Promise<string>((resolve, reject) => execFile(program[0]!, program.slice(1), (e, stdout) => (e ? reject(e) : resolve(stdout))));
    const [a, b] = await Promise.all([run(), run()]);
    for (const stdout of [a, b]) {
      const out = parseSubmitProgramOutput(stdout);
      expect(out.size).toBe(9);
      for (let i = 0; i < 9; i++) expect(out.get(String(i))).toEqual({ key: String(i), kind: 'result', exitCode: 0, stdout: `${100 + i}\n`, stderr: '' });
    }
    expect(readFileSync(log, 'utf8').trim().split('\n').sort()).toEqual(items.map((_, i) => String(100 + i)).sort());
  });

  it('answers UNKNOWN for a record claimed by a program that died before finishing it, and does not submit again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-submit-'));
    mkdirSync(join(dir, '.hpcb'));
    const counter = join(dir, 'count');
    const argv = ['sh', '-c', 'echo x >> "$1"; echo 1', 'fake', counter];
    // The dead claimer's group lock is free; with no .rc (or an empty one) the outcome is unknown.
    for (const rc of [undefined, '']) {
      writeFileSync(join(dir, '.hpcb', 'submit.0.0.claim'), `${join(dir, 'gone.lock')}\n`);
      if (rc !== undefined) writeFileSync(join(dir, '.hpcb', 'submit.0.0.rc'), rc);
      const out = parseSubmitProgramOutput(bash(renderSubmitProgram([{ key: 'k', jobDir: dir, attempt: 0, tryNo: 0, argv }])));
      expect(out.get('k')).toEqual({ key: 'k', kind: 'unknown' });
    }
    expect(existsSync(counter)).toBe(false);
    // The engine's next try has its own record.
    const next = parseSubmitProgramOutput(bash(renderSubmitProgram([{ key: 'k', jobDir: dir, attempt: 0, tryNo: 1, argv }])));
    expect(next.get('k')).toMatchObject({ kind: 'result', exitCode: 0, stdout: '1\n' });
    expect(readFileSync(counter, 'utf8')).toBe('x\n');
  });
});

describe('evidence program', () => {
  it('reads exit files, task codes and memory-kill messages for many jobs at once', () => {
    const a = mkdtempSync(join(tmpdir(), 'hpcb-ev-'));
    const b = mkdtempSync(join(tmpdir(), 'hpcb-ev-'));
    mkdirSync(join(a, '.hpcb'));
    mkdirSync(join(b, '.hpcb'));
    writeFileSync(join(a, '.hpcb', 'exit'), '3 1\n');
    writeFileSync(join(a, '.hpcb', 'started'), '1700000000\n');
    writeFileSync(join(a, '.hpcb', 'task.0.exit'), '0\n');
    writeFileSync(join(a, '.hpcb', 'task.1.exit'), '3\n');
    writeFileSync(join(a, '.hpcb', 'failure'), 'image-missing 1\n');
    writeFileSync(join(b, '.hpcb', 'slurm.err'), 'slurmstepd: error: Exceeded job memory limit\n');
    const items = [
      { key: 'a', jobDir: a, taskCount: 2 },
      { key: 'b', jobDir: b, taskCount: 1 },
      { key: 'c', jobDir: join(a, 'nope'), taskCount: 1 },
    ];
    const ev = parseEvidenceOutput(bash(renderEvidenceProgram(items)), items);
    expect(ev.get('a')).toMatchObject({ exitCode: 3, failedTask: 1, started: true, taskExitCodes: [0, 3], failure: { what: 'image-missing', task: 1 }, memoryKill: false, complete: true });
    expect(ev.get('b')).toMatchObject({ exitCode: null, started: false, memoryKill: true, complete: true });
    expect(ev.get('b')!.failure ?? null).toBeNull();
    expect(ev.get('c')).toMatchObject({ noDir: true, complete: true });
  });

  it('takes a status file without its final newline (being written, or its writer killed mid-write) as not written', () => {
    const a = mkdtempSync(join(tmpdir(), 'hpcb-ev-'));
    mkdirSync(join(a, '.hpcb'));
    writeFileSync(join(a, '.hpcb', 'started'), '1700000000\n');
    writeFileSync(join(a, '.hpcb', 'native_id'), '');
    writeFileSync(join(a, '.hpcb', 'task.0.exit'), '0');
    writeFileSync(join(a, '.hpcb', 'exit'), '');
    writeFileSync(join(a, '.hpcb', 'terminated'), '');
    const items = [{ key: 'a', jobDir: a, taskCount: 1 }];
    const ev = parseEvidenceOutput(bash(renderEvidenceProgram(items)), items);
    expect(ev.get('a')).toMatchObject({ started: true, startedEpoch: 1700000000, nativeId: null, exitCode: null, terminatedBy: null, taskExitCodes: [null], complete: true });
  });
});
