/**
 * Scheduled maintenance on a real Bridge (direct adapter, local transport): each task removes
 * what is past its retention and nothing else, logs one line per run, and a cron schedule fires.
 * Retention is tested by moving jobs' end times into the past in the database, not by waiting.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Bridge } from '../../../src/bridge.js';
import { jobDirFor } from '../../../src/jobdir/layout.js';
import { createLogger } from '../../../src/logging.js';
import { confinedJobDir, Maintenance } from '../../../src/ops/maintenance.js';
import { buildSettings } from '../../../src/settings/load.js';

const DAY = 86_400_000;
const opened: { bridge: Bridge; maint?: Maintenance }[] = [];
afterEach(async () => {
  while (opened.length) {
    const o = opened.pop()!;
    await o.maint?.stop();
    await o.bridge.close();
  }
});

function setup(maintenance: Record<string, unknown> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-maint-'));
  const scratchRoot = join(dataDir, 'scratch');
  const settings = buildSettings({ dataDir, maintenance: { scratchRetentionDays: 14, outputRetentionDays: 30, artifactRetentionDays: 7, backupsKept: 2, ...maintenance } }, [
    { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot, pollIntervalSeconds: 0.2 } },
  ]);
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ level: 'info', destination: sink });
  const bridge = Bridge.open(settings, { logger: log });
  bridge.start();
  const maint = new Maintenance({ store: bridge.store, settings, log, runtime: (c) => bridge.reconciler(c)?.rt });
  opened.push({ bridge, maint });
  const dir = (id: number) => jobDirFor(bridge.reconciler('here')!.rt.scratchRoot, bridge.store.instanceId(), id);
  // The store keeps its connection to itself; backdating is test set-up, done beside it.
  const endedDaysAgo = (id: number, days: number) => {
    const raw = new Database(bridge.store.file);
    try {
      raw.prepare('UPDATE jobs SET ended_at = ? WHERE id = ?').run(Date.now() - days * DAY, id);
    } finally {
      raw.close();
    }
  };
  const maintLines = (task: string) => lines.filter((l) => l.task === task);
  return { bridge, maint, dataDir, scratchRoot, dir, endedDaysAgo, maintLines, settings, log };
}

async function untilRunning(b: Bridge, id: number): Promise<void> {
  while (b.get(id)!.status !== 'running') {
    expect(b.get(id)!.status).not.toMatch(/completed|failed|killed|deleted/);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('scratch clean-up', () => {
  it('removes only the directories of jobs terminal for longer than the retention', async () => {
    const { bridge, maint, dir, endedDaysAgo, maintLines } = setup();
    const old1 = bridge.submit('alice', { tasks: [{ cmd: 'echo a > a.txt' }] }).job.id;
    const old2 = bridge.submit('alice', { tasks: [{ cmd: 'exit 4' }] }).job.id;
    const recent = bridge.submit('alice', { tasks: [{ cmd: 'echo r' }] }).job.id;
    const running = bridge.submit('alice', { tasks: [{ cmd: 'sleep 600' }] }).job.id;
    for (const id of [old1, old2, recent]) expect((await bridge.wait(id, 25_000)).state).toMatch(/completed|failed/);
    await untilRunning(bridge, running);
    endedDaysAgo(old1, 20);
    endedDaysAgo(old2, 15);
    endedDaysAgo(recent, 13);
    // A running job with an (impossible) old end time: its state alone must protect it.
    endedDaysAgo(running, 100);
    for (const id of [old1, old2, recent, running]) expect(existsSync(dir(id))).toBe(true);

    const r = await maint.cleanScratch();
    expect(r).toMatchObject({ removed: 2, deferred: 0, clusters: { here: { removed: 2 } } });
    expect(existsSync(dir(old1))).toBe(false);
    expect(existsSync(dir(old2))).toBe(false);
    expect(existsSync(dir(recent))).toBe(true);
    expect(existsSync(dir(running))).toBe(true);
    expect(existsSync(join(dir(running), '.hpcb', 'job.sh'))).toBe(true);

    // Already-removed directories are not listed again.
    expect((await maint.cleanScratch()).removed).toBe(0);
    expect(maintLines('scratch')).toHaveLength(2);
    expect(maintLines('scratch')[0]!.msg).toMatch(/removed 2 job directories/);
    bridge.cancel(running);
  });

  it('refuses any path that is not directly under <scratchRoot>/jobs/', () => {
    const root = '/scratch/hb/jobs/';
    expect(confinedJobDir(root, '/scratch/hb/jobs/ab12-7')).toBe('/scratch/hb/jobs/ab12-7');
    for (const bad of ['/scratch/hb/jobs/', '/scratch/hb/jobs/..', '/scratch/hb/jobs/../artifacts', '/scratch/hb/jobs/a/b', '/scratch/hb/other-1', '/', "/scratch/hb/jobs/a'b"]) {
      expect(() => confinedJobDir(root, bad), bad).toThrow(/refusing to remove/);
    }
  });
});

describe('store expiry', () => {
  it('expires old outputs (reported as expired) and old unreferenced artifact bytes only', async () => {
    const { bridge, maint, dataDir, endedDaysAgo, maintLines } = setup();
    const { Readable } = await import('node:stream');
    await bridge.staging.putArtifact('alice', 'named.dat', Readable.from([Buffer.from('named bytes')]));
    const oldJob = bridge.submit('alice', { tasks: [{ cmd: 'echo old > out.txt' }], outputFiles: ['out.txt'] }).job.id;
    const newJob = bridge.submit('alice', { tasks: [{ cmd: 'echo new > out.txt' }], outputFiles: ['out.txt'] }).job.id;
    for (const id of [oldJob, newJob]) expect((await bridge.wait(id, 25_000)).status).toBe('completed');
    expect(bridge.staging.listOutputs(oldJob, 'alice').outputs.map((o) => o.name)).toEqual(['out.txt']);
    endedDaysAgo(oldJob, 31);
    endedDaysAgo(newJob, 29);

    // Blobs: one named (old), one unreferenced and old, one unreferenced and young.
    const blobs = join(dataDir, 'artifacts', 'alice', 'blobs');
    const named = readdirSync(blobs)[0]!;
    const orphanOld = 'a'.repeat(64);
    const orphanYoung = 'b'.repeat(64);
    writeFileSync(join(blobs, orphanOld), 'x'.repeat(100));
    writeFileSync(join(blobs, orphanYoung), 'y');
    const tenDaysAgo = (Date.now() - 10 * DAY) / 1000;
    utimesSync(join(blobs, orphanOld), tenDaysAgo, tenDaysAgo);
    utimesSync(join(blobs, named), tenDaysAgo, tenDaysAgo);

    const r = await maint.expireStore();
    expect(r).toMatchObject({ outputJobs: 1, artifactBlobs: 1, artifactBytes: 100 });
    expect(r.outputFiles).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(dataDir, 'outputs', String(oldJob)))).toBe(false);
    expect(existsSync(join(dataDir, 'outputs', String(newJob)))).toBe(true);
    const oldReport = bridge.staging.listOutputs(oldJob, 'alice');
    expect(oldReport.outputs).toEqual([]);
    expect(oldReport.problems).toContainEqual({ name: 'out.txt', reason: expect.stringMatching(/^expired/) });
    expect(bridge.staging.listOutputs(newJob, 'alice').outputs.map((o) => o.name)).toEqual(['out.txt']);
    expect(readdirSync(blobs).sort()).toEqual([named, orphanYoung].sort());
    expect(maintLines('store')).toHaveLength(1);
  });
});

describe('backup', () => {
  it('writes a consistent online copy, truncates the WAL and keeps the newest backups', async () => {
    const { bridge, dataDir, maintLines, settings, log } = setup();
    // A clock that moves a second per backup, so each gets its own time-stamped name.
    let t = Date.now();
    const maint = new Maintenance({ store: bridge.store, settings, log, runtime: (c) => bridge.reconciler(c)?.rt, now: () => (t += 1000) });
    const id = bridge.submit('alice', { tasks: [{ cmd: 'true' }] }).job.id;
    await bridge.wait(id, 25_000);
    const files: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await maint.backup();
      files.push(r.file);
      expect(r.walCheckpoint.busy).toBe(0);
      const copy = new Database(r.file, { readonly: true });
      try {
        expect((copy.prepare('SELECT state FROM jobs WHERE id = ?').get(id) as { state: string }).state).toBe('completed');
        expect((copy.pragma('integrity_check') as { integrity_check: string }[])[0]!.integrity_check).toBe('ok');
      } finally {
        copy.close();
      }
      expect(statSync(r.file).mode & 0o077).toBe(0);
    }
    expect(statSync(join(dataDir, 'hpc-bridge.db-wal'), { throwIfNoEntry: false })?.size ?? 0).toBeLessThan(4096 * 4);
    const kept = readdirSync(join(dataDir, 'backups')).sort();
    expect(kept).toHaveLength(2);
    expect(kept).toEqual(files.slice(1).map((f) => f.split('/').at(-1)).sort());
    expect(maintLines('backup')).toHaveLength(3);
  });
});

describe('disk report and schedules', () => {
  it('reports disk use of the data directory and each cluster scratch', async () => {
    const { maint, dataDir, scratchRoot } = setup();
    mkdirSync(scratchRoot, { recursive: true });
    const r = await maint.diskReport();
    expect(r.dataDir.path).toBe(dataDir);
    expect(r.dataDir.totalBytes).toBeGreaterThan(0);
    expect(r.dataDir.databaseBytes).toBeGreaterThan(0);
    expect(r.clusters.here).toMatchObject({ scratchRoot });
    expect(r.clusters.here!.error).toBeUndefined();
    expect(r.clusters.here!.freeBytes).toBeGreaterThan(0);
  });

  it('runs tasks on their cron schedules and logs each run', async () => {
    // Every second (node-cron's optional seconds field); the others are off.
    const { maint, maintLines } = setup({ schedules: { diskReport: '* * * * * *', backup: '* * * * * *', scratch: 'off', store: 'off' } });
    maint.start();
    while (!(maint.last.diskReport && maint.last.backup)) await new Promise((r) => setTimeout(r, 50));
    expect(maint.last.diskReport!.ok).toBe(true);
    expect(maint.last.backup!.ok).toBe(true);
    await maint.stop();
    expect(maintLines('diskReport').length).toBeGreaterThanOrEqual(1);
    expect(maintLines('backup').length).toBeGreaterThanOrEqual(1);
    expect(maintLines('scratch')).toHaveLength(0);
  });

  it('rejects a bad schedule at config validation, naming the key', () => {
    expect(() => buildSettings({ maintenance: { schedules: { backup: 'every night' } } }, [{ file: 'c.yaml', raw: { name: 'x', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: '/tmp/x' } }], 'd.yaml')).toThrow(
      /d\.yaml: maintenance\.schedules\.backup: must be a cron expression/,
    );
  });
});
