/**
 * The parts of snapshot and exec that need no cluster: which paths and requests are refused and
 * how, the parsers of the remote programs' answers, and the Slurm step command (run here with
 * stand-ins for squeue and srun that print what they were given).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSlurmAdapter } from '../../adapters/slurm/index.js';
import { createPbsAdapter } from '../../adapters/pbs/index.js';
import { directAdapter } from '../../adapters/direct/index.js';
import { checkExecRequest, jobRelativePath } from '../../src/domain/inJob.js';
import { BridgeError } from '../../src/domain/errors.js';
import { parseExec, parseSnapshot } from '../../src/jobdir/inJob.js';

const refusal = (f: () => unknown): BridgeError => {
  try {
    f();
  } catch (e) {
    if (e instanceof BridgeError) return e;
    throw e;
  }
  throw new Error('not refused');
};

describe('snapshot paths', () => {
  it('normalises what stays inside the job directory', () => {
    expect(jobRelativePath('result.txt')).toBe('result.txt');
    expect(jobRelativePath('./out//step 3/it\'s $HOME.txt')).toBe("out/step 3/it's $HOME.txt");
    expect(jobRelativePath('a/./b/')).toBe('a/b');
    expect(jobRelativePath('..hidden')).toBe('..hidden');
    expect(jobRelativePath('dir/.hpcb')).toBe('dir/.hpcb');
  });

  it('refuses absolute paths, "..", .hpcb, the directory itself and control characters, naming the field', () => {
    const cases: [string, RegExp][] = [
      ['/etc/passwd', /is absolute/],
      ['..', /contains "\.\."/],
      ['a/../b', /contains "\.\."/],
      ['a/b/../../..', /contains "\.\."/],
      ['.hpcb/job.sh', /inside \.hpcb/],
      ['./.hpcb', /inside \.hpcb/],
      ['.', /the job directory itself/],
      ['./', /the job directory itself/],
      ['', /is empty/],
      ['a\nb', /control character/],
      ['a\0b', /control character/],
      ['x'.repeat(4097), /longer than 4096/],
    ];
    for (const [p, m] of cases) {
      const e = refusal(() => jobRelativePath(p));
      expect([e.code, e.context.field], p).toEqual(['INVALID_DEFINITION', 'path']);
      expect(e.message, p).toMatch(m);
    }
  });
});

describe('exec requests', () => {
  it('takes an argv and a limit up to the maximum, 60 s by default (or the maximum when lower)', () => {
    expect(checkExecRequest({ argv: ['tail', '-n', '5', 'log.txt'] }, 240)).toEqual({ argv: ['tail', '-n', '5', 'log.txt'], timeoutSeconds: 60 });
    expect(checkExecRequest({ argv: ['true'] }, 30).timeoutSeconds).toBe(30);
    expect(checkExecRequest({ argv: ['true'], timeoutSeconds: 240 }, 240).timeoutSeconds).toBe(240);
  });

  it('refuses an empty, NUL-carrying or oversized argv and a limit outside the range, naming the field', () => {
    const cases: [Parameters<typeof checkExecRequest>[0], string, RegExp][] = [
      [{ argv: [] }, 'argv', /is empty/],
      [{ argv: [''] }, 'argv[0]', /names the program/],
      [{ argv: ['echo', 'ok', 'a\0b'] }, 'argv[2]', /NUL/],
      [{ argv: Array.from({ length: 257 }, () => 'x') }, 'argv', /at most 256/],
      [{ argv: ['echo', 'x'.repeat(70_000)] }, 'argv', /bytes long; at most 65536/],
      [{ argv: ['true'], timeoutSeconds: 0 }, 'timeoutSeconds', /from 1 to 240/],
      [{ argv: ['true'], timeoutSeconds: 241 }, 'timeoutSeconds', /from 1 to 240/],
      [{ argv: ['true'], timeoutSeconds: 2.5 }, 'timeoutSeconds', /whole number/],
    ];
    for (const [req, field, m] of cases) {
      const e = refusal(() => checkExecRequest(req, 240));
      expect(e.context.field, field).toBe(field);
      expect(e.message, field).toMatch(m);
    }
  });
});

describe('remote program answers', () => {
  it('reads a snapshot answer after login noise, binary-safe, and every refusal', () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    expect(parseSnapshot(`motd: welcome\n@@HPCB-SNAP FILE ${bytes.toString('base64')}\n`)).toEqual({ kind: 'file', data: bytes });
    expect(parseSnapshot('@@HPCB-SNAP FILE \n')).toEqual({ kind: 'file', data: Buffer.alloc(0) });
    expect(parseSnapshot('@@HPCB-SNAP TOOLARGE 123456\n')).toEqual({ kind: 'toolarge', size: 123456 });
    for (const w of ['NODIR', 'MISSING', 'OUTSIDE', 'DIRECTORY', 'SPECIAL', 'DENIED']) expect(parseSnapshot(`@@HPCB-SNAP ${w}\n`)).toEqual({ kind: w.toLowerCase() });
    expect(parseSnapshot('bash: line 1: syntax error\n')).toEqual({ kind: 'none' });
    expect(parseSnapshot('@@HPCB-SNAP FILE not*base64\n')).toEqual({ kind: 'none' });
    expect(parseSnapshot('@@HPCB-SNAP SOMETHING\n')).toEqual({ kind: 'none' });
  });

  it('reads an exec answer: launcher status, the step record, a cut-off, and both streams with their sizes', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const a = parseExec(['noise', '@@HPCB-EXEC LAUNCHER 0', '@@HPCB-EXEC STEP 124 1', '@@HPCB-EXEC CUT', `@@HPCB-EXEC OUT 5000 ${b64('partial')}`, '@@HPCB-EXEC ERR 0 ', '@@HPCB-EXEC END', ''].join('\n'));
    expect(a).toEqual({
      noDir: false,
      complete: true,
      launcherExit: 0,
      step: { exitCode: 124, timedOut: true },
      cut: true,
      stdout: { bytes: 5000, data: Buffer.from('partial') },
      stderr: { bytes: 0, data: Buffer.alloc(0) },
    });
    expect(parseExec('@@HPCB-EXEC NODIR\n')).toMatchObject({ noDir: true, complete: false });
    // Without END the answer was cut short: not complete, whatever came before.
    expect(parseExec('@@HPCB-EXEC LAUNCHER 1\n')).toMatchObject({ complete: false, launcherExit: 1 });
    expect(parseExec('@@HPCB-EXEC STEP x 1\n@@HPCB-EXEC END\n').step).toBeUndefined();
  });
});

describe('exec per scheduler', () => {
  it('Slurm: a step overlapping the job, its own time limit, an array element looked up by its raw id', () => {
    const bin = mkdtempSync(join(tmpdir(), 'hpcb-fake-slurm-'));
    // Stand-ins: squeue knows element 77_3 as raw id 4242 and nothing else; srun prints its argv.
    writeFileSync(join(bin, 'squeue'), '#!/bin/sh\nfor a in "$@"; do case $a in --jobs=77_3) echo 4242 ;; esac; done\n');
    writeFileSync(join(bin, 'srun'), '#!/bin/sh\nfor a in "$@"; do printf "<%s>" "$a"; done\n');
    for (const f of ['squeue', 'srun']) chmodSync(join(bin, f), 0o755);
    const run = (argv: string[]) => {
      try {
        return { out: execFileSync(argv[0]!, argv.slice(1), { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), code: 0 };
      } catch (e) {
        const x = e as { status: number; stderr: string };
        return { out: x.stderr, code: x.status };
      }
    };
    const slurm = createSlurmAdapter();
    const inner = ['bash', '-c', 'echo "$1"', 'x', "it's $HOME"];
    expect(run(slurm.execInJob!('123', inner, { jobDir: '/scratch/j 1', timeoutSeconds: 30 })).out).toBe(
      `<--jobid=123><--overlap><--nodes=1><--ntasks=1><--quiet><--time=1><--chdir=/scratch/j 1><bash><-c><echo "$1"><x><it's $HOME>`,
    );
    // The step's own limit leaves room for the inner program's TERM and KILL: 50 s plus grace is 2 minutes.
    expect(run(slurm.execInJob!('77_3', ['true'], { jobDir: '/j', timeoutSeconds: 50 })).out).toBe('<--jobid=4242><--overlap><--nodes=1><--ntasks=1><--quiet><--time=2><--chdir=/j><true>');
    expect(run(slurm.execInJob!('77_9', ['true'], { jobDir: '/j', timeoutSeconds: 5 }))).toEqual({ code: 1, out: 'hpc-bridge: job 77_9 is no longer in the queue\n' });
    expect(() => slurm.execInJob!('123; rm -rf /', ['true'], { jobDir: '/j', timeoutSeconds: 5 })).toThrow(/not a Slurm job id/);
  });

  it('direct runs the inner program as is; PBS has no way in and says why', () => {
    expect(directAdapter.execInJob!('4711', ['true', 'x'], { jobDir: '/j', timeoutSeconds: 5 })).toEqual(['true', 'x']);
    for (const flavor of ['pbspro', 'torque'] as const) {
      const pbs = createPbsAdapter({ flavor });
      expect(pbs.execInJob).toBeUndefined();
      expect(pbs.execRefusal).toMatch(/pbsdsh and pbs_tmrsh work only from inside the job/);
    }
  });
});
