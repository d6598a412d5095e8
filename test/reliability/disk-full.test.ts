/**
 * The daemon's disk fills up during an artifact upload. Its data directory is a 48 MiB tmpfs
 * mounted for this file; a filler file leaves a few MiB free, and a larger artifact is uploaded
 * through the API. The user must get a clear error (status and a message naming the cause),
 * nothing half-written may be listed or kept, the database must stay intact, and once space is
 * freed uploads and jobs work again without a restart.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call, startDaemon, type Daemon } from '../api/helpers.js';
import { labSettings, onLogin, until } from '../e2e/support/lab.js';
import { checkDb, dbInstance, duplicatesAndMissing, schedulerJobsByTag, writeSummary } from './support.js';

const MiB = 1024 * 1024;

function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

/** Every file under dir (recursively), as paths relative to it. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk('');
  return out;
}

describe("the daemon's disk filling up during an upload", () => {
  const mnt = mkdtempSync(join(tmpdir(), 'hpcb-diskfull-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'tmpfs', mnt]);
  const lab = labSettings({ dataDir: mnt });
  let d: Daemon | undefined;

  afterAll(async () => {
    await d?.close();
    await onLogin(lab.env, `rm -rf '${lab.scratchRoot}'`).catch(() => undefined);
    execFileSync('umount', [mnt]);
    rmdirSync(mnt);
  });

  it('a clear error, nothing partial visible, the database intact, and service back once space is freed', async () => {
    d = await startDaemon({ settings: lab.settings });
    // Node's server closes an idle keep-alive connection after 5 s; a request the client sends
    // on such a socket at that instant gets ECONNRESET (seen once here on the 128 MiB PUT after
    // an idle wait). Not what these tests are about, so keep connections open longer.
    d.server.server.keepAliveTimeout = 120_000;
    const filler = join(mnt, 'filler');
    // Leave 6 MiB: room for the database and its WAL, not for the artifact.
    writeFileSync(filler, Buffer.alloc(Math.max(0, freeBytes(mnt) - 6 * MiB)));
    const blobsBefore = filesUnder(join(mnt, 'artifacts'));

    const bytes = randomBytes(24 * MiB);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const full = await call(d, 'PUT', '/artifacts/data.bin', { raw: bytes, headers: { 'x-checksum-sha256': sha } });
    expect(full.status, full.text).toBe(507);
    expect(full.json.error.code).toBe('NO_SPACE');
    expect(full.json.error.message).toMatch(/no space left on the daemon's disk/);
    expect(full.json.error.message).toContain('data.bin');

    // Nothing of it is listed, and no partial bytes stay behind under any name. Measured, then
    // asserted, and the measured count is what the summary publishes.
    const listed = await d.alice.listArtifacts();
    const fetched = (await call(d, 'GET', '/artifacts/data.bin')).status;
    const leftover = filesUnder(join(mnt, 'artifacts')).filter((f) => !blobsBefore.includes(f));
    const partialArtifactsVisible = listed.length + (fetched === 404 ? 0 : 1);
    expect({ listed, fetched, leftover }).toEqual({ listed: [], fetched: 404, leftover: [] });
    const dbPath = join(mnt, 'hpc-bridge.db');
    const whileFull = checkDb(dbPath);
    expect(whileFull.integrity).toBe('ok');

    // The daemon keeps answering while the disk is full.
    expect((await call(d, 'GET', '/healthz', { token: null })).status).toBe(200);

    // Space comes back: the same upload succeeds, and a job uses it on the cluster.
    rmSync(filler);
    const ok = await call(d, 'PUT', '/artifacts/data.bin', { raw: bytes, headers: { 'x-checksum-sha256': sha } });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.json.sha256).toBe(sha);
    const created = await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'sha256sum data.bin | cut -d" " -f1 > sum.txt' }], artifacts: [{ url: 'data.bin' }], outputFiles: ['sum.txt'] } });
    expect(created.status, created.text).toBe(201);
    const job = await d.alice.waitJob(created.json.id as number, 240);
    expect(job.status).toBe('completed');
    expect((await d.alice.downloadOutput(job.id, 'sum.txt')).toString().trim()).toBe(sha);

    // Jobs, and what the scheduler ran for them: every scheduler job carrying this database's tag.
    const bridgeJobs = d.bridge.list({ scope: 'all' });
    const sched = await until('the job in accounting', async () => {
      const found = await schedulerJobsByTag(lab.env, dbInstance(dbPath));
      return found.length > 0 ? found : undefined;
    }, 60_000, 1000);
    const { duplicates, missing } = duplicatesAndMissing(bridgeJobs.map((j) => j.id), sched);
    const lost = missing.length + bridgeJobs.filter((j) => /^lost/.test(j.statusReason ?? '')).length;
    expect({ jobs: bridgeJobs.length, schedulerJobs: sched.length, duplicates, lost }).toEqual({ jobs: 1, schedulerJobs: 1, duplicates: [], lost: 0 });

    await d.close();
    d = undefined;
    const db = checkDb(dbPath);
    writeSummary('disk-full', {
      faultsInjected: 1,
      filesystemBytes: 48 * MiB,
      uploadBytes: bytes.length,
      refusedWith: `${full.status} ${String(full.json.error.code)}`,
      partialArtifactsVisible,
      partialFilesLeft: leftover.length,
      jobs: bridgeJobs.length,
      schedulerJobs: sched.length,
      duplicates: duplicates.length,
      lost,
      integrityCheck: db.integrity,
      impossibleStates: db.impossible.length,
    });
    expect(db.integrity).toBe('ok');
    expect(db.impossible).toEqual([]);
  });
});
