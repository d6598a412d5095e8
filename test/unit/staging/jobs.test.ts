/**
 * Stage-in and stage-out end to end on the direct adapter: inline inputs and artifacts reach the
 * job, one upload per cluster however many jobs, archives unpack, outputs come back byte for byte
 * (globs, directories, failed jobs), symlinks out of the job directory are refused, and logs are
 * readable while the job runs and after scratch is gone.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BridgeError } from '../../../src/domain/errors.js';
import { b64, body, closeAll, jobDir, jobFile, openBridge, readAll, runJob, until } from './helpers.js';

afterEach(closeAll);

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

describe('stage-in', () => {
  it('a job reads its inline input and its artifact; a missing artifact is refused at submission', async () => {
    const { bridge: b } = openBridge();
    await b.staging.putArtifact('alice', 'table.csv', body('a,b\n1,2\n'));
    const job = await runJob(b, {
      tasks: [{ cmd: 'cat sample.in table.csv' }],
      inputs: [{ filename: 'sample.in', content: b64('x = 42\n') }],
      artifacts: [{ url: 'table.csv' }],
    });
    expect(job.status).toBe('completed');
    expect(jobFile(b, job.id, '.hpcb/task.0.stdout')).toBe('x = 42\na,b\n1,2\n');

    let err: unknown;
    try {
      b.submit('alice', { tasks: [{ cmd: 'true' }], artifacts: [{ url: 'table.csv' }, { url: 'nope.bin' }] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BridgeError);
    expect((err as BridgeError).code).toBe('INVALID_DEFINITION');
    expect((err as BridgeError).context.field).toBe('artifacts[1].url');
    expect((err as BridgeError).message).toMatch(/no artifact named "nope.bin"/);
    // Another user's artifact of that name does not count.
    expect(() => b.submit('bob', { tasks: [{ cmd: 'true' }], artifacts: [{ url: 'table.csv' }] })).toThrow(/artifacts\[0\]\.url/);
    expect(b.list({ scope: 'all' })).toHaveLength(1);
  });

  it('inline inputs over the configured limit are refused at submission with the field named', () => {
    const { bridge: b } = openBridge({ inputFileBytes: 10 });
    expect(() => b.submit('alice', { tasks: [{ cmd: 'true' }], inputs: [{ filename: 'ok', content: b64('0123456789') }, { filename: 'big', content: b64('0123456789A') }] })).toThrow(
      /inputs\[1\]\.content: is 11 bytes, more than the limit of 10/,
    );
    expect(b.list({ scope: 'all' })).toHaveLength(0);
  });

  it('one artifact used by many jobs is uploaded to the cluster once', async () => {
    const { bridge: b } = openBridge();
    const data = randomBytes(256 << 10);
    await b.staging.putArtifact('alice', 'shared.bin', body(data));
    const ids = Array.from({ length: 12 }, (_, i) => b.submit('alice', { name: `use-${i}`, tasks: [{ cmd: 'sha256sum shared.bin | cut -c1-64' }], artifacts: [{ url: 'shared.bin' }] }).job.id);
    const jobs = await Promise.all(ids.map((id) => b.wait(id, 60_000)));
    for (const j of jobs) {
      expect(j.status).toBe('completed');
      expect(jobFile(b, j.id, '.hpcb/task.0.stdout').trim()).toBe(sha(data));
    }
    const st = b.staging.stats();
    expect(st.artifactUploads).toBe(1);
    expect(st.artifactBytesUploaded).toBe(data.length);
    expect(st.cacheHits).toBe(11);
    // Jobs hold hard links to the one cached copy.
    expect(statSync(join(jobDir(b, ids[0]!), 'shared.bin')).nlink).toBeGreaterThanOrEqual(13);
  });

  it('unpacks tar, tar.gz, tar.bz2, zip, gz and bz2 archives and sets the executable bit', async () => {
    const { bridge: b } = openBridge();
    const src = mkdtempSync(join(tmpdir(), 'hpcb-arch-'));
    mkdirSync(join(src, 'pkg'));
    writeFileSync(join(src, 'pkg', 'data.txt'), 'packed\n');
    writeFileSync(join(src, 'single.txt'), 'single\n');
    const make = (name: string, cmd: string, args: string[]) => {
      execFileSync(cmd, args, { cwd: src });
      return readFileSync(join(src, name));
    };
    const archives: Record<string, Buffer> = {
      'a.tar': make('a.tar', 'tar', ['-cf', 'a.tar', 'pkg']),
      'b.tar.gz': make('b.tar.gz', 'tar', ['-czf', 'b.tar.gz', 'pkg']),
      'c.tgz': make('c.tgz', 'tar', ['-czf', 'c.tgz', 'pkg']),
      'd.tar.bz2': make('d.tar.bz2', 'tar', ['-cjf', 'd.tar.bz2', 'pkg']),
      'e.zip': make('e.zip', 'zip', ['-q', '-r', 'e.zip', 'pkg']),
    };
    execFileSync('sh', ['-c', 'gzip -c single.txt > single.txt.gz && bzip2 -c single.txt > other.txt.bz2'], { cwd: src });
    archives['single.txt.gz'] = readFileSync(join(src, 'single.txt.gz'));
    archives['other.txt.bz2'] = readFileSync(join(src, 'other.txt.bz2'));
    for (const [name, data] of Object.entries(archives)) await b.staging.putArtifact('alice', name, body(data));
    await b.staging.putArtifact('alice', 'tool.sh', body('#!/bin/sh\necho tool-ran\n'));
    await b.staging.putArtifact('alice', 'run.gz', body(execFileSync('gzip', ['-c'], { input: '#!/bin/sh\necho gz-ran\n' })));

    const kinds = ['a.tar', 'b.tar.gz', 'c.tgz', 'd.tar.bz2', 'e.zip'];
    for (const k of kinds) {
      const job = await runJob(b, { tasks: [{ cmd: 'cat pkg/data.txt' }], artifacts: [{ url: k }] });
      expect(job.status, `${k}: ${job.statusReason}`).toBe('completed');
      expect(jobFile(b, job.id, '.hpcb/task.0.stdout')).toBe('packed\n');
    }
    const job = await runJob(b, {
      tasks: [{ cmd: 'cat single.txt other.txt && ./tool.sh && ./run' }],
      artifacts: [{ url: 'single.txt.gz' }, { url: 'other.txt.bz2' }, { url: 'tool.sh', executable: true }, { url: 'run.gz', executable: true }],
    });
    expect(job.status, String(job.statusReason)).toBe('completed');
    expect(jobFile(b, job.id, '.hpcb/task.0.stdout')).toBe('single\nsingle\ntool-ran\ngz-ran\n');
    expect(statSync(join(jobDir(b, job.id), 'tool.sh')).mode & 0o777).toBe(0o700);
    // The executable copy is not the cache file: other jobs' links keep their mode.
    expect(statSync(join(jobDir(b, job.id), 'tool.sh')).nlink).toBe(1);
  });

  it('a corrupt archive fails the job at stage-in with the unpacker named, before submission', async () => {
    const { bridge: b } = openBridge();
    await b.staging.putArtifact('alice', 'broken.tar.gz', body('this is not gzip'));
    const job = await runJob(b, { tasks: [{ cmd: 'true' }], artifacts: [{ url: 'broken.tar.gz' }] });
    expect(job.status).toBe('failed');
    expect(job.statusReason).toMatch(/^stage-in failed: artifacts\[0\] \(broken.tar.gz\): tar -xzf/);
    expect(job.nativeId).toBeNull();
  });

  it('fetches an http URL artifact once through the daemon; a 404 fails the job naming the field', async () => {
    const payload = randomBytes(100_000);
    let hits = 0;
    const server: Server = createServer((req, res) => {
      hits++;
      if (req.url === '/files/model.bin') res.end(payload);
      else {
        res.statusCode = 404;
        res.end('no');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const { bridge: b, dataDir } = openBridge();
      const ok = await runJob(b, { tasks: [{ cmd: 'sha256sum model.bin | cut -c1-64' }], artifacts: [{ url: `http://127.0.0.1:${port}/files/model.bin` }] });
      expect(ok.status, String(ok.statusReason)).toBe('completed');
      expect(jobFile(b, ok.id, '.hpcb/task.0.stdout').trim()).toBe(sha(payload));
      expect(hits).toBe(1);
      expect(b.staging.stats()).toMatchObject({ urlFetches: 1, urlBytesFetched: payload.length });
      // The fetched bytes were only this job's: gone from the daemon's store once it ended.
      expect(() => statSync(join(dataDir, 'artifacts', 'alice', 'blobs', sha(payload)))).toThrow();

      const missing = await runJob(b, { tasks: [{ cmd: 'true' }], artifacts: [{ url: `http://127.0.0.1:${port}/nothing.bin` }] });
      expect(missing.status).toBe('failed');
      expect(missing.statusReason).toMatch(/artifacts\[0\]\.url: fetching .* answered HTTP 404/);
    } finally {
      server.close();
    }
  });
});

describe('stage-out', () => {
  it('collects every glob match and packed directories byte for byte, with sha256', async () => {
    const { bridge: b } = openBridge();
    const binary = randomBytes(70_000);
    await b.staging.putArtifact('alice', 'blob.bin', body(binary));
    const job = await runJob(b, {
      tasks: [
        {
          cmd: [
            'mkdir -p res/sub deep/a/b',
            'for i in 1 2 3; do echo "r$i" > "res/part $i.dat"; done',
            'echo nested > deep/a/b/x.dat',
            'cp blob.bin out.bin',
            'echo hidden > .dot.dat',
            'echo keep > res/sub/keep.txt',
          ].join(' && '),
        },
      ],
      artifacts: [{ url: 'blob.bin' }],
      outputFiles: ['res/*.dat', '**/*.dat', 'out.bin', 'absent-*.txt'],
      outputDirs: ['res/'],
    });
    expect(job.status).toBe('completed');
    const report = b.staging.listOutputs(job.id, 'alice');
    const names = report.outputs.map((o) => o.name).sort();
    expect(names).toEqual(['.dot.dat', 'deep/a/b/x.dat', 'out.bin', 'res.tar.gz', 'res/part 1.dat', 'res/part 2.dat', 'res/part 3.dat']);
    expect(report.problems).toEqual([{ name: 'absent-*.txt', reason: 'matched no file' }]);
    const out = report.outputs.find((o) => o.name === 'out.bin')!;
    expect(out).toMatchObject({ size: binary.length, sha256: sha(binary), kind: 'file' });
    const got = await b.staging.openOutput(job.id, 'alice', 'out.bin');
    expect(sha(await readAll(got.stream))).toBe(sha(binary));
    // A byte range, as HTTP Range will ask for it.
    const part = await b.staging.openOutput(job.id, 'alice', 'out.bin', { start: 100, end: 199 });
    expect(await readAll(part.stream)).toEqual(binary.subarray(100, 200));
    expect(part).toMatchObject({ start: 100, end: 199, size: binary.length });

    const dir = report.outputs.find((o) => o.name === 'res.tar.gz')!;
    expect(dir.kind).toBe('directory');
    const tgz = await readAll((await b.staging.openOutput(job.id, 'alice', 'res.tar.gz')).stream);
    const listing = execFileSync('tar', ['-tzf', '-'], { input: tgz }).toString().split('\n').filter(Boolean).sort();
    expect(listing).toEqual(['res/', 'res/part 1.dat', 'res/part 2.dat', 'res/part 3.dat', 'res/sub/', 'res/sub/keep.txt']);

    // Other users see nothing.
    expect(() => b.staging.listOutputs(job.id, 'bob')).toThrow(/not found/);
    await expect(b.staging.openOutput(job.id, 'alice', '../../etc/passwd')).rejects.toThrow(/no output named/);
  });

  it('collects the outputs of a failed job too, and never what a symlink points to outside the job directory', async () => {
    const { bridge: b, dataDir } = openBridge();
    const secret = join(dataDir, 'secret.txt');
    writeFileSync(secret, 'do not collect\n');
    const job = await runJob(b, {
      tasks: [
        {
          cmd: `echo partial > result.txt && ln -s ${secret} leak.txt && ln -s result.txt alias.txt && mkdir -p d && ln -s ${dataDir} d/up && ln -s ${dataDir} outdir; exit 4`,
        },
      ],
      outputFiles: ['*.txt', 'd/up/secret.txt', '**/*'],
      outputDirs: ['outdir', '.'],
    });
    expect(job.status).toBe('failed');
    expect(job.statusReason).toBe('task exited with code 4');
    const report = b.staging.listOutputs(job.id, 'alice');
    const names = report.outputs.map((o) => o.name).sort();
    expect(names).toEqual(['alias.txt', 'result.txt']);
    const alias = await readAll((await b.staging.openOutput(job.id, 'alice', 'alias.txt')).stream);
    expect(alias.toString()).toBe('partial\n');
    const problem = (n: string) => report.problems.find((p) => p.name === n)?.reason;
    expect(problem('leak.txt')).toMatch(/outside the job directory/);
    expect(problem('d/up/secret.txt')).toMatch(/outside the job directory/);
    expect(problem('outdir')).toMatch(/outside the job directory/);
    expect(problem('.')).toMatch(/outside the job directory, or is the job directory itself/);
    expect(problem('d')).toMatch(/directory/);
    for (const o of report.outputs) expect((await readAll((await b.staging.openOutput(job.id, 'alice', o.name)).stream)).toString()).not.toMatch(/do not collect/);
  });

  it('reports what exceeds the per-job output limit instead of dropping it silently', async () => {
    const { bridge: b } = openBridge({ outputBytesPerJob: 1500 });
    const job = await runJob(b, { tasks: [{ cmd: 'head -c 1000 /dev/zero > a.bin && head -c 1000 /dev/zero > b.bin && head -c 400 /dev/zero > c.bin' }], outputFiles: ['a.bin', 'b.bin', 'c.bin'] });
    const report = b.staging.listOutputs(job.id, 'alice');
    expect(report.outputs.map((o) => o.name)).toEqual(['a.bin', 'c.bin']);
    expect(report.problems).toEqual([{ name: 'b.bin', reason: expect.stringMatching(/per-job output limit of 1500 bytes/) }]);
  });

  it('a stage-out interrupted half-way resumes without downloading again what it already stored', async () => {
    let failOnce = true;
    const { bridge: b } = openBridge(
      {},
      {
        stagingOptions: {
          onOutputStored: () => {
            if (failOnce) {
              failOnce = false;
              throw new BridgeError('CONNECTION_LOST', 'injected: connection lost after the first output', { transient: true });
            }
          },
        },
      },
    );
    const job = await runJob(b, { tasks: [{ cmd: 'for i in 1 2 3 4 5; do echo $i > f$i.txt; done' }], outputFiles: ['f*.txt'] });
    expect(job.status).toBe('completed');
    expect(b.staging.listOutputs(job.id, 'alice').outputs).toHaveLength(5);
    // 5 files + task 0 stdout/stderr, each downloaded exactly once.
    expect(b.staging.stats().outputsDownloaded).toBe(7);
    expect(b.store.events(job.id).filter((e) => e.to === 'staging_out')).toHaveLength(1);
  });
});

describe('logs', () => {
  it('a log of up to 6 KiB comes back inside the output listing and a longer one by a fetch, both byte for byte', async () => {
    const { bridge: b } = openBridge();
    // A fetch is a batch read apart from the listing: a program, or in-process on this local transport.
    const fetches = () => (b.staging.stats().fetchCommands ?? 0) + (b.staging.stats().fetchReads ?? 0);
    const small = await runJob(b, { tasks: [{ cmd: 'echo 42' }] });
    expect(small.status).toBe('completed');
    expect(fetches()).toBe(0);
    expect((await b.staging.readLog(small.id, 'alice', 'stdout')).data.toString()).toBe('42\n');

    // 6144 bytes is the most a listing carries; one byte more is fetched.
    const edge = await runJob(b, { tasks: [{ cmd: "head -c 6144 /dev/zero | tr '\\0' a; head -c 6145 /dev/zero | tr '\\0' b >&2" }] });
    expect(edge.status).toBe('completed');
    expect(fetches()).toBe(1);
    expect((await b.staging.readLog(edge.id, 'alice', 'stdout', { maxBytes: 10_000 })).data.toString()).toBe('a'.repeat(6144));
    expect((await b.staging.readLog(edge.id, 'alice', 'stderr', { maxBytes: 10_000 })).data.toString()).toBe('b'.repeat(6145));
    rmSync(jobDir(b, edge.id), { recursive: true, force: true });
    expect((await b.staging.readLog(edge.id, 'alice', 'stdout', { maxBytes: 10_000 })).data.toString()).toBe('a'.repeat(6144));
  });

  it('stdout is readable at increasing offsets while the job runs, and from the store after scratch is gone', async () => {
    const { bridge: b } = openBridge();
    const { job } = b.submit('alice', {
      tasks: [{ cmd: 'echo one; while [ ! -f go ]; do sleep 0.05; done; echo two; echo err >&2' }],
    });
    const first = await until('the first line', async () => {
      const c = await b.staging.readLog(job.id, 'alice', 'stdout');
      return c.data.length > 0 ? c : undefined;
    });
    expect(first.data.toString()).toBe('one\n');
    expect(first.nextOffset).toBe(4);
    expect(first.complete).toBe(false);
    writeFileSync(join(jobDir(b, job.id), 'go'), '');
    const second = await until('the second line', async () => {
      const c = await b.staging.readLog(job.id, 'alice', 'stdout', { offset: first.nextOffset });
      return c.data.length > 0 ? c : undefined;
    });
    expect(second.data.toString()).toBe('two\n');
    expect(second.nextOffset).toBe(8);

    await b.wait(job.id, 30_000);
    rmSync(jobDir(b, job.id), { recursive: true, force: true });
    const after = await b.staging.readLog(job.id, 'alice', 'stdout', { offset: 0, maxBytes: 3 });
    expect(after).toMatchObject({ nextOffset: 3, complete: false });
    expect(after.data.toString()).toBe('one');
    const rest = await b.staging.readLog(job.id, 'alice', 'stdout', { offset: 3 });
    expect(rest.data.toString()).toBe('\ntwo\n');
    expect(rest.complete).toBe(true);
    expect((await b.staging.readLog(job.id, 'alice', 'stderr')).data.toString()).toBe('err\n');
    await expect(b.staging.readLog(job.id, 'bob', 'stdout')).rejects.toThrow(/not found/);
    await expect(b.staging.readLog(job.id, 'alice', 'stdout', { task: 1 })).rejects.toThrow(/task must be/);
  });
});
