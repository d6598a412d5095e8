import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fetchProgram, jobDirsArchive, parseFetch, unpackProgram, unpackSucceeded } from '../../src/jobdir/bulk.js';
import { memberNameProblem, packTar, unpackTar } from '../../src/jobdir/tar.js';
import { LocalTransport } from '../../src/transport/local.js';

/** Run a remote program's argv here, with `input` on its stdin. */
const run = (argv: readonly string[], input?: Buffer) => execFileSync(argv[0]!, argv.slice(1), input ? { input } : {}).toString();

describe('job directories as one stream', () => {
  it('GNU tar unpacks what the writer builds: directories, files, modes, long and odd names', () => {
    const root = mkdtempSync(join(tmpdir(), 'hpcb-bulk-'));
    const jobsDir = join(root, 'jobs');
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}.txt`;
    const odd = "it's a $(file) with spaces & ünïcode.txt";
    const { archive, jobsDir: got } = jobDirsArchive([
      { jobDir: join(jobsDir, 'i-1'), files: [{ path: 'in.txt', data: Buffer.from('one\n'), mode: 0o600 }, { path: '.hpcb/job.sh', data: Buffer.from('#!/bin/bash\n'), mode: 0o700 }] },
      { jobDir: join(jobsDir, 'i-2'), files: [{ path: long, data: Buffer.alloc(70_000, 7), mode: 0o600 }, { path: odd, data: Buffer.alloc(0), mode: 0o700 }] },
    ]);
    expect(got).toBe(jobsDir);
    expect(unpackSucceeded(run(unpackProgram(jobsDir), archive))).toBe(true);
    expect(readFileSync(join(jobsDir, 'i-1', 'in.txt'), 'utf8')).toBe('one\n');
    expect(lstatSync(join(jobsDir, 'i-1', '.hpcb', 'job.sh')).mode & 0o777).toBe(0o700);
    expect(lstatSync(join(jobsDir, 'i-1', 'in.txt')).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(jobsDir, 'i-2', '.hpcb')).isDirectory()).toBe(true);
    expect(lstatSync(join(jobsDir, 'i-2')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(jobsDir, 'i-2', long)).equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(readFileSync(join(jobsDir, 'i-2', odd)).length).toBe(0);
  });

  it('replaces a link standing where a file goes instead of writing through it', () => {
    const root = mkdtempSync(join(tmpdir(), 'hpcb-bulk-'));
    const jobsDir = join(root, 'jobs');
    mkdirSync(join(jobsDir, 'i-1'), { recursive: true });
    symlinkSync(join(root, 'victim'), join(jobsDir, 'i-1', 'in.txt'));
    const { archive } = jobDirsArchive([{ jobDir: join(jobsDir, 'i-1'), files: [{ path: 'in.txt', data: Buffer.from('x'), mode: 0o600 }] }]);
    expect(unpackSucceeded(run(unpackProgram(jobsDir), archive))).toBe(true);
    expect(lstatSync(join(jobsDir, 'i-1', 'in.txt')).isFile()).toBe(true);
    expect(() => lstatSync(join(root, 'victim'))).toThrow();
  });

  it('refuses names that would leave the job directory, and jobs in different parents', () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', './a', '']) expect(memberNameProblem(bad)).toBeDefined();
    expect(() => jobDirsArchive([{ jobDir: '/s/jobs/i-1', files: [{ path: '../i-2/x', data: Buffer.alloc(1), mode: 0o600 }] }])).toThrow(/component/);
    expect(() => jobDirsArchive([{ jobDir: '/s/jobs/i-1', files: [] }, { jobDir: '/t/jobs/i-2', files: [] }])).toThrow(/not in/);
    expect(() => packTar([{ name: '/abs', mode: 0o600, data: Buffer.alloc(0) }])).toThrow(/absolute/);
  });
});

describe('small files back as one stream', () => {
  it('reads what GNU tar sends (long names included), leaves a vanished file out and reports a link as a link', () => {
    const root = mkdtempSync(join(tmpdir(), 'hpcb-fetch-'));
    const deep = join(root, 'x'.repeat(120), 'y'.repeat(120));
    mkdirSync(deep, { recursive: true });
    const files = { a: join(root, 'a.txt'), b: join(deep, 'b b.txt'), empty: join(root, 'empty') };
    writeFileSync(files.a, 'alpha\n');
    writeFileSync(files.b, Buffer.alloc(300_000, 1));
    writeFileSync(files.empty, '');
    symlinkSync('/etc/hostname', join(root, 'link'));
    const got = parseFetch(run(fetchProgram([files.a, files.b, files.empty, join(root, 'gone'), join(root, 'link')])));
    expect((got.get(files.a) as Buffer).toString()).toBe('alpha\n');
    expect((got.get(files.b) as Buffer).equals(Buffer.alloc(300_000, 1))).toBe(true);
    expect((got.get(files.empty) as Buffer).length).toBe(0);
    expect(got.has(join(root, 'gone'))).toBe(false);
    expect(got.get(join(root, 'link'))).toBe('other');
  });

  it('the local transport reads the same answers in-process: bytes, a link or a FIFO as other, a vanished file left out', async () => {
    const root = mkdtempSync(join(tmpdir(), 'hpcb-fetch-'));
    const files = { a: join(root, 'a.txt'), big: join(root, 'big'), empty: join(root, 'empty'), link: join(root, 'link'), fifo: join(root, 'fifo'), dir: join(root, 'd'), gone: join(root, 'gone') };
    writeFileSync(files.a, 'alpha\n');
    writeFileSync(files.big, Buffer.alloc(300_000, 1));
    writeFileSync(files.empty, '');
    symlinkSync(files.a, files.link);
    execFileSync('mkfifo', [files.fifo]);
    mkdirSync(files.dir);
    const paths = Object.values(files);
    const t = new LocalTransport();
    const got = await t.readFiles(paths);
    await t.close();
    // tar names a directory `d/`, which the caller reads as vanished: either way not a file, and
    // the single download decides (src/staging/staging.ts).
    const plain = paths.filter((p) => p !== files.dir);
    const viaTar = parseFetch(run(fetchProgram(plain)));
    expect([...got.keys()].filter((p) => p !== files.dir).sort()).toEqual([...viaTar.keys()].sort());
    expect(got.get(files.dir)).toBe('other');
    for (const p of plain) {
      const [mine, theirs] = [got.get(p), viaTar.get(p)];
      if (Buffer.isBuffer(theirs)) expect(Buffer.isBuffer(mine) && mine.equals(theirs)).toBe(true);
      else expect(mine).toBe(theirs);
    }
    expect((got.get(files.a) as Buffer).toString()).toBe('alpha\n');
    expect(got.get(files.link)).toBe('other');
    expect(got.get(files.fifo)).toBe('other');
    expect(got.has(files.gone)).toBe(false);
  });

  it('never takes a cut stream for a shorter one', () => {
    const whole = packTar([{ name: 'a', data: Buffer.alloc(5000, 1), mode: 0o600 }]);
    expect(unpackTar(whole)).toHaveLength(1);
    const out = run(fetchProgram(['/etc/hostname']));
    expect(() => parseFetch(out.replace(/END 0/, 'END 2'))).toThrow(/tar exited 2/);
    expect(() => parseFetch(out.split('\n').slice(0, 2).join('\n'))).toThrow(/did not finish/);
  });
});
