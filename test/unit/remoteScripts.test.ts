import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEvidenceOutput, parseSubmitProgramOutput, renderEvidenceProgram, renderSubmitProgram } from '../../src/engine/remoteScripts.js';

const bash = (program: string) => execFileSync('bash', ['-c', program]).toString();

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
    writeFileSync(join(b, '.hpcb', 'slurm.err'), 'slurmstepd: error: Exceeded job memory limit\n');
    const items = [
      { key: 'a', jobDir: a, taskCount: 2 },
      { key: 'b', jobDir: b, taskCount: 1 },
      { key: 'c', jobDir: join(a, 'nope'), taskCount: 1 },
    ];
    const ev = parseEvidenceOutput(bash(renderEvidenceProgram(items)), items);
    expect(ev.get('a')).toMatchObject({ exitCode: 3, failedTask: 1, started: true, taskExitCodes: [0, 3], memoryKill: false, complete: true });
    expect(ev.get('b')).toMatchObject({ exitCode: null, started: false, memoryKill: true, complete: true });
    expect(ev.get('c')).toMatchObject({ noDir: true, complete: true });
  });
});
