/**
 * The staging suite: inputs and artifacts in, one upload per cluster however many jobs, archives,
 * outputs (globs, directories, failed jobs, symlinks refused), logs while running, a 2 GiB round
 * trip in bounded memory, and a stage-out that survives SIGKILL, end to end through the Bridge on
 * the real test cluster over the real sshd. One definition, run once per scheduler dialect
 * (test/e2e/staging.test.ts on Slurm, test/e2e/torque-staging.test.ts on the Torque wrappers,
 * test/e2e/openpbs-staging.test.ts on the real OpenPBS server).
 *
 * Staging itself never talks to the scheduler: it works on the job directory over the transport.
 * What the scheduler decides is when a job runs and how it ended, and that is what a second
 * dialect can change here (the job's files must be in place before its submit, its logs readable
 * while it runs, its outputs collected whatever the outcome, after an outcome decided from
 * different evidence). So every test that gives a job inputs, outputs or logs runs on both, with
 * the same assertions. The one exception is the 2 GiB round trip (`bigRoundTrip`), see below.
 *
 * The tests in the main block run one after another on one bridge: the first counts the cluster
 * cache's uploads, which a concurrent test's artifacts would disturb.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../../src/bridge.js';
import { BridgeError } from '../../../src/domain/errors.js';
import { jobDirFor } from '../../../src/jobdir/layout.js';
import type { JobRecord } from '../../../src/store/store.js';
import { makeRandomFile, sha256File } from '../../contract/files.js';
import { listTarGz, regularFilesOfTarGz } from '../../helpers/archive.js';
import { checkDb, dbInstance, pbsJobsByTag, schedulerJobsByTag } from '../../reliability/support.js';
import { labSettings, onLogin, until, type LabOptions } from '../support/lab.js';

export interface StagingSuiteCapabilities {
  /**
   * Run the 2 GiB round trip (daemon store -> cluster -> job -> output -> daemon, daemon memory
   * bounded). It is the heaviest test of all (about 80 s of transfers) and it exercises nothing
   * scheduler-specific: the bytes go through the staging service and the transport, and the
   * job's part is one `cp`. The same paths (upload to the cluster cache, link into the job
   * directory, output download) are covered on every dialect by the smaller tests, so it runs
   * on Slurm only.
   */
  bigRoundTrip: boolean;
}

const support = join(dirname(fileURLToPath(import.meta.url)), '..', 'support');

/**
 * @param where how the describe blocks name the scheduler ("on Slurm over SSH", ...)
 * @param labOptions scheduler and flavor of the cluster (the same for the in-process bridge and
 *   for the daemons the crash test runs in their own processes)
 */
export function defineStagingSuite(where: string, labOptions: LabOptions, caps: StagingSuiteCapabilities): void {
  const clusterName = labOptions.clusterName ?? 'lab';
  let bridge: Bridge;
  let lab: ReturnType<typeof labSettings>;

  beforeAll(() => {
    lab = labSettings(labOptions);
    bridge = Bridge.open(lab.settings);
    bridge.start();
  });

  afterAll(async () => {
    await bridge?.close();
    await onLogin(lab.env, `rm -rf ${lab.scratchRoot}`).catch(() => undefined);
    rmSync(lab.dataDir, { recursive: true, force: true });
  });

  const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const body = (d: string | Buffer) => Readable.from([Buffer.from(d)]);

  async function run(def: unknown, timeoutMs = 180_000): Promise<JobRecord> {
    const { job } = bridge.submit('alice', def);
    const done = await bridge.wait(job.id, timeoutMs);
    expect(done.status, `job ${job.id} should be terminal (is ${done.state}: ${done.statusReason} ${done.lastError})`).toMatch(/completed|failed|killed|deleted/);
    return done;
  }

  async function stdoutOf(job: JobRecord, task = 0): Promise<string> {
    return (await bridge.staging.readLog(job.id, 'alice', 'stdout', { task })).data.toString();
  }

  async function output(job: JobRecord, name: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of (await bridge.staging.openOutput(job.id, 'alice', name)).stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * The cluster block of a config file for a daemon in its own process: the lab's own entry, so
   * it carries every key of `labOptions` (on OpenPBS `adapter.commandDir`, without which `qsub`
   * on the login node is Slurm's Torque wrapper and the job goes to the wrong scheduler).
   */
  function clusterConfig(own: ReturnType<typeof labSettings>): Record<string, unknown> {
    // The daemon processes of these tests run every job as the lab's one account.
    return { ...own.cluster, sharedAccount: true, pollIntervalSeconds: 1 };
  }

  /** What the scheduler itself ran under this database's tag: Slurm accounting, or the OpenPBS history. */
  const schedulerJobs = labOptions.scheduler === 'pbs' && labOptions.flavor === 'pbspro' ? pbsJobsByTag : schedulerJobsByTag;

  describe(`staging ${where}`, () => {
    it('20 jobs read their inline input and one artifact that crossed the network once', async () => {
      const data = randomBytes(3 << 20);
      await bridge.staging.putArtifact('alice', 'shared.bin', body(data));
      const before = bridge.staging.stats();
      const ids = Array.from({ length: 20 }, (_, i) =>
        bridge.submit('alice', {
          name: `shared-${i}`,
          tasks: [{ cmd: 'cat sample.in; sha256sum shared.bin | cut -c1-64' }],
          inputs: [{ filename: 'sample.in', content: b64(`job ${i}\n`) }],
          artifacts: [{ url: 'shared.bin' }],
        }).job.id,
      );
      const jobs = await Promise.all(ids.map((id) => bridge.wait(id, 240_000)));
      for (const [i, j] of jobs.entries()) {
        expect(j.status, `${j.statusReason}`).toBe('completed');
        expect(await stdoutOf(j)).toBe(`job ${i}\n${sha(data)}\n`);
      }
      const after = bridge.staging.stats();
      expect(after.artifactUploads - before.artifactUploads).toBe(1);
      expect(after.artifactBytesUploaded - before.artifactBytesUploaded).toBe(data.length);
      // A 21st job later costs nothing either.
      const again = await run({ tasks: [{ cmd: 'test -s shared.bin' }], artifacts: [{ url: 'shared.bin' }] });
      expect(again.status).toBe('completed');
      expect(bridge.staging.stats().artifactBytesUploaded).toBe(after.artifactBytesUploaded);
    });

    it('a nonexistent artifact is rejected at submission, naming it', () => {
      let err: unknown;
      try {
        bridge.submit('alice', { tasks: [{ cmd: 'true' }], artifacts: [{ url: 'never-uploaded.h5' }] });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BridgeError);
      expect((err as BridgeError).code).toBe('INVALID_DEFINITION');
      expect((err as BridgeError).context.field).toBe('artifacts[0].url');
      expect((err as BridgeError).message).toMatch(/never-uploaded\.h5/);
    });

    it('archives are unpacked on the cluster and executable sets the exec bit', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hpcb-e2e-arch-'));
      try {
        execFileSync('sh', ['-c', 'mkdir -p pkg && echo packed > pkg/data.txt && tar -czf pkg.tar.gz pkg && zip -q -r pkg.zip pkg && printf "#!/bin/sh\\necho tool-ran\\n" > tool.sh'], { cwd: dir });
        await bridge.staging.putArtifact('alice', 'pkg.tar.gz', createReadStream(join(dir, 'pkg.tar.gz')));
        await bridge.staging.putArtifact('alice', 'pkg.zip', createReadStream(join(dir, 'pkg.zip')));
        await bridge.staging.putArtifact('alice', 'tool.sh', createReadStream(join(dir, 'tool.sh')));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const job = await run({
        tasks: [{ cmd: 'cat pkg/data.txt && ./tool.sh && stat -c %a tool.sh' }],
        artifacts: [{ url: 'pkg.tar.gz' }, { url: 'tool.sh', executable: true }],
      });
      expect(job.status, `${job.statusReason}`).toBe('completed');
      // Owner-only: the executable bit for the job's account alone.
      expect(await stdoutOf(job)).toBe('packed\ntool-ran\n700\n');
      const zipJob = await run({ tasks: [{ cmd: 'cat pkg/data.txt' }], artifacts: [{ url: 'pkg.zip' }] });
      expect(await stdoutOf(zipJob)).toBe('packed\n');
    });

    it('a failed job: every glob match and a directory come back, a symlink out of the job directory does not', async () => {
      const job = await run({
        tasks: [
          {
            cmd: [
              'mkdir -p results/raw',
              'for i in 1 2 3 4; do head -c 1000 /dev/urandom > results/raw/r$i.bin; done',
              'echo summary > results/summary.txt',
              'ln -s /etc/passwd results/raw/r9.bin',
              'ln -s /etc stolen',
              'exit 3',
            ].join(' && '),
          },
        ],
        outputFiles: ['results/raw/*.bin', 'results/**/*.txt'],
        outputDirs: ['results', 'stolen'],
      });
      expect(job.status).toBe('failed');
      expect(job.statusReason).toBe('task exited with code 3');
      const report = bridge.staging.listOutputs(job.id, 'alice');
      expect(report.outputs.map((o) => o.name).sort()).toEqual(['results.tar.gz', 'results/raw/r1.bin', 'results/raw/r2.bin', 'results/raw/r3.bin', 'results/raw/r4.bin', 'results/summary.txt']);
      expect(report.problems.find((p) => p.name === 'results/raw/r9.bin')?.reason).toMatch(/outside the job directory/);
      expect(report.problems.find((p) => p.name === 'stolen')?.reason).toMatch(/outside the job directory/);
      const dir = jobDirFor(bridge.reconciler(clusterName)!.rt.scratchRoot, bridge.store.instanceId(), job.id);
      const remoteSums = await onLogin(lab.env, `cd ${dir} && sha256sum results/raw/r*.bin results/summary.txt`);
      for (const line of remoteSums.trim().split('\n')) {
        const [sum, name] = line.split(/\s+/) as [string, string];
        if (name.endsWith('r9.bin')) continue;
        expect(sha(await output(job, name)), name).toBe(sum);
        expect(report.outputs.find((o) => o.name === name)!.sha256).toBe(sum);
      }
      const archive = Buffer.from(await output(job, 'results.tar.gz'));
      // Kept as a link (mode l), never followed: no regular file in the archive holds its target.
      expect(listTarGz(archive).find((m) => m.name === 'results/raw/r9.bin')).toMatchObject({ type: 'l', target: '/etc/passwd' });
      for (const [name, content] of regularFilesOfTarGz(archive)) expect({ name, passwd: content.includes('root:x:0:0') }).toEqual({ name, passwd: false });
    });

    it('stdout is read at increasing offsets while the job runs', async () => {
      const { job } = bridge.submit('alice', { tasks: [{ cmd: 'echo one; while [ ! -f go ]; do sleep 0.2; done; echo two' }] });
      const first = await until('the first line while running', async () => {
        const c = await bridge.staging.readLog(job.id, 'alice', 'stdout');
        return c.data.length > 0 ? c : undefined;
      }, 180_000);
      expect(first.data.toString()).toBe('one\n');
      expect(first.complete).toBe(false);
      // It cannot end before `go` exists, so this output was read from a live job.
      expect(bridge.get(job.id)!.status).toMatch(/^(idle|running)$/);
      const dir = jobDirFor(bridge.reconciler(clusterName)!.rt.scratchRoot, bridge.store.instanceId(), job.id);
      await onLogin(lab.env, `touch ${dir}/go`);
      const second = await until('the second line', async () => {
        const c = await bridge.staging.readLog(job.id, 'alice', 'stdout', { offset: first.nextOffset });
        return c.data.length > 0 ? c : undefined;
      }, 60_000);
      expect(second.data.toString()).toBe('two\n');
      expect(second.nextOffset).toBe(8);
      const done = await bridge.wait(job.id, 120_000);
      expect(done.status).toBe('completed');
      const end = await bridge.staging.readLog(job.id, 'alice', 'stdout', { offset: 8 });
      expect(end).toMatchObject({ nextOffset: 8, complete: true });
    });
  });

  // Slurm only (see `bigRoundTrip`): nothing in it depends on the scheduler.
  if (caps.bigRoundTrip) {
    describe(`a 2 GiB artifact ${where}`, () => {
      it('round-trips byte-identical (daemon store -> cluster -> job -> output -> daemon) without the daemon growing by more than 64 MiB', async () => {
        const GiB = 1024 ** 3;
        const own = labSettings(labOptions);
        const work = mkdtempSync(join(tmpdir(), 'hpcb-e2e-big-'));
        try {
          const src = join(work, 'big.bin');
          const back = join(work, 'back.bin');
          const want = await makeRandomFile(src, 2 * GiB);
          const configFile = join(own.dataDir, 'config.json');
          writeFileSync(configFile, JSON.stringify({ daemon: { dataDir: own.dataDir, logLevel: 'warn' }, cluster: clusterConfig(own) }));
          // The daemon runs in its own process so that its resident memory is measured alone.
          const child = spawn(process.execPath, ['--import', 'tsx', join(support, 'daemon-roundtrip-proc.ts'), configFile, src, want, back], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
          const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
          expect(code).toBe(0);
          const res = JSON.parse(out.trim().split('\n').pop()!) as { status: string; reason: string; output: { size: number; sha256: string } | null; baselineRss: number; peakRss: number };
          expect(res.status, res.reason).toBe('completed');
          expect(res.output).toMatchObject({ size: 2 * GiB, sha256: want });
          expect(await sha256File(back)).toBe(want);
          const growthMiB = (res.peakRss - res.baselineRss) / (1 << 20);
          console.log(`2 GiB round trip: daemon RSS baseline ${(res.baselineRss / (1 << 20)).toFixed(0)} MiB, peak growth ${growthMiB.toFixed(1)} MiB`);
          expect(growthMiB).toBeLessThan(64);
        } finally {
          rmSync(work, { recursive: true, force: true });
          await onLogin(own.env, `rm -rf ${own.scratchRoot}`).catch(() => undefined);
          rmSync(own.dataDir, { recursive: true, force: true });
        }
      }, 900_000);
    });
  }

  // On every dialect: it is small (30 outputs of 64 KiB), and the job it stages out reached
  // `staging_out` through this dialect's outcome decision (on the Torque wrappers: qstat's `C`
  // and the runner's exit file, no accounting).
  describe(`a daemon killed during a stage-out ${where}`, () => {
    const children: ChildProcess[] = [];
    afterAll(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });

    function start(configFile: string, env: Record<string, string>): { child: ChildProcess; lines: string[]; waitFor: (re: RegExp) => Promise<string> } {
      const child = spawn(process.execPath, ['--import', 'tsx', join(support, 'daemon-staging-proc.ts'), configFile], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ...env },
      });
      children.push(child);
      const lines: string[] = [];
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        lines.push(...parts);
      });
      const waitFor = (re: RegExp) => until(`daemon output ${re}`, () => lines.find((l) => re.test(l)), 240_000, 50);
      return { child, lines, waitFor };
    }

    it('restarted, completes the stage-out without fetching again what it had stored', async () => {
      const own = labSettings(labOptions);
      const cluster = clusterConfig(own);
      const configFile = join(own.dataDir, 'config.json');
      writeFileSync(configFile, JSON.stringify({ daemon: { dataDir: own.dataDir, logLevel: 'warn' }, cluster }));
      const dbPath = join(own.dataDir, 'hpc-bridge.db');

      const first = start(configFile, { HPCB_PAUSE_AFTER: '7' });
      const jobId = Number((await first.waitFor(/^job \d+$/)).split(' ')[1]);
      await first.waitFor(/^paused$/);
      first.child.kill('SIGKILL');
      await new Promise<void>((r) => (first.child.exitCode !== null || first.child.signalCode !== null ? r() : first.child.once('exit', () => r())));

      const peek = () => {
        const db = new Database(dbPath, { readonly: true, fileMustExist: true });
        try {
          const job = db.prepare('SELECT state FROM jobs WHERE id = ?').get(jobId) as { state: string };
          const rows = db.prepare(`SELECT id, name, state, sha256 FROM job_outputs WHERE job_id = ? AND kind = 'file' ORDER BY name`).all(jobId) as { id: number; name: string; state: string; sha256: string | null }[];
          return { state: job.state, rows };
        } finally {
          db.close();
        }
      };
      const mid = peek();
      expect(mid.state).toBe('staging_out');
      expect(mid.rows).toHaveLength(30);
      const storedBefore = mid.rows.filter((r) => r.state === 'done');
      expect(storedBefore.length).toBe(7);
      expect(first.lines.filter((l) => l.startsWith('stored ')).map((l) => l.slice(7)).sort()).toEqual(storedBefore.map((r) => r.name).sort());
      // The stored files themselves: a second download would land under a new inode (temp file
      // renamed over the old one), whatever its bytes.
      const fileId = (id: number) => {
        const st = statSync(join(own.dataDir, 'outputs', String(jobId), String(id)), { bigint: true });
        return `${st.ino}:${st.mtimeNs}`;
      };
      const idsBefore = new Map(storedBefore.map((r) => [r.id, fileId(r.id)]));

      const second = start(configFile, {});
      await until('the job terminal after the restart', () => ['completed', 'failed'].includes(peek().state), 240_000, 250);
      second.child.kill('SIGTERM');
      await new Promise<void>((r) => (second.child.exitCode !== null ? r() : second.child.once('exit', () => r())));

      const end = peek();
      expect(end.state).toBe('completed');
      expect(end.rows.every((r) => r.state === 'done')).toBe(true);
      // What the second life fetched: the 23 outputs not stored before the kill (and the job's
      // logs), none of the 7 that were, counted by the daemon's own "stored" lines and by its
      // staging counters.
      const fetchedAfter = second.lines.filter((l) => l.startsWith('stored ')).map((l) => l.slice(7));
      const notStored = end.rows.filter((r) => !storedBefore.some((b) => b.id === r.id)).map((r) => r.name).sort();
      expect(notStored).toHaveLength(23);
      expect(fetchedAfter.filter((n) => n.startsWith('out.')).sort()).toEqual(notStored);
      expect(fetchedAfter.filter((n) => !n.startsWith('out.')).every((n) => /^task\.\d+\.std(out|err)$/.test(n))).toBe(true);
      const stats = JSON.parse((second.lines.find((l) => l.startsWith('stats ')) ?? 'stats null').slice(6)) as { outputsDownloaded: number } | null;
      expect(stats?.outputsDownloaded).toBe(fetchedAfter.length);
      for (const [id, before] of idsBefore) expect({ id, file: fileId(id) }).toEqual({ id, file: before });
      // What was stored before the crash was not replaced (same rows, same hashes), and every file
      // matches what is on the cluster.
      for (const r of storedBefore) expect(end.rows.find((x) => x.id === r.id)!.sha256).toBe(r.sha256);
      // One job, submitted once: the restart did not submit it again (every scheduler job whose
      // name carries this database's tag, whatever its attempt).
      const instance = dbInstance(dbPath);
      const sched = await until('the job in accounting', async () => {
        const found = await schedulerJobs(own.env, instance);
        return found.length > 0 ? found : undefined;
      }, 60_000, 1000);
      expect(sched.map((s) => ({ jobId: s.jobId, attempt: s.attempt }))).toEqual([{ jobId, attempt: 0 }]);
      // The database after the crash: intact, and no job row contradicting its event log.
      expect(checkDb(dbPath)).toEqual({ integrity: 'ok', impossible: [] });
      const dir = posix.join(own.scratchRoot, 'jobs');
      const sums = await onLogin(own.env, `cd ${dir}/*-${jobId} && sha256sum out.*.bin`);
      const remote = new Map(sums.trim().split('\n').map((l) => { const [s, n] = l.split(/\s+/) as [string, string]; return [n, s]; }));
      for (const r of end.rows) {
        expect(r.sha256).toBe(remote.get(r.name));
        expect(sha(readFileSync(join(own.dataDir, 'outputs', String(jobId), String(r.id))))).toBe(r.sha256);
      }
      await onLogin(own.env, `rm -rf ${own.scratchRoot}`).catch(() => undefined);
      rmSync(own.dataDir, { recursive: true, force: true });
    });
  });
}
