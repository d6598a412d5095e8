/**
 * The maintenance queries on their own: which rows are past retention, what still refers to a
 * blob, the scratch bookkeeping, and the backup file being one self-contained database.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { clockedStore } from './helpers.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('scratch bookkeeping', () => {
  it('lists terminal jobs that ended before the cutoff until their directories are marked removed', () => {
    const { store, clock, job, end } = clockedStore();
    const m = store.maintenance;
    const old = job('alice', 'c1');
    const oldOther = job('bob', 'c2');
    const recent = job();
    const active = job();
    end(old);
    end(oldOther);
    clock.now += 100;
    end(recent);
    expect(m.scratchCandidates(clock.now)).toEqual([
      // clusterUser null: the cluster's own account (the directories are removed as it).
      { id: old, cluster: 'c1', clusterUser: null },
      { id: oldOther, cluster: 'c2', clusterUser: null },
    ]);
    expect(m.stillTerminal([old, active, recent, 999])).toEqual([old, recent]);
    m.markScratchRemoved([old], clock.now);
    m.markScratchRemoved([old], clock.now); // twice is harmless
    expect(m.scratchCandidates(clock.now + 1).map((r) => r.id)).toEqual([oldOther, recent]);
  });
});

describe('stored outputs', () => {
  it('finds jobs with stored outputs past the cutoff, expires their rows with a reason, and says when a folder may go', () => {
    const { store, clock, job, end } = clockedStore();
    const m = store.maintenance;
    const s = store.staging;
    const old = job();
    const young = job();
    const running = job();
    for (const id of [old, young, running]) {
      s.recordOutputPlan(id, [
        { name: 'a', kind: 'file', remotePath: '/a', size: 3 },
        { name: 'task.0.stdout', kind: 'log', remotePath: '/l', size: 4 },
      ], [], 1);
      for (const o of s.pendingOutputs(id)) s.outputStored(o.id, A, o.size);
    }
    end(old);
    clock.now += 100;
    end(young);
    expect(m.outputJobsEndedBefore(clock.now)).toEqual([old]);
    expect(m.outputsRemovable(old, clock.now)).toBe(false);
    expect(m.expireOutputs(old, 'expired: test')).toEqual({ files: 2, bytes: 7 });
    expect(s.outputs(old)).toMatchObject([{ name: 'a', state: 'skipped', reason: 'expired: test' }]);
    expect(s.storedLog(old, 'task.0.stdout')).toBeUndefined();
    expect(m.expireOutputs(old, 'again')).toEqual({ files: 0, bytes: 0 });
    expect(m.outputJobsEndedBefore(clock.now)).toEqual([]);
    expect(m.outputsRemovable(old, clock.now)).toBe(true);
    // A job that ended after the cutoff, or has not ended, keeps its folder.
    expect(m.outputsRemovable(young, clock.now)).toBe(false);
    expect(m.outputsRemovable(running, clock.now + 1000)).toBe(false);
  });
});

describe('artifact blobs', () => {
  it('counts a blob referenced while a name or a job that is not terminal refers to it', () => {
    const { store, job, end } = clockedStore();
    const s = store.staging;
    s.putArtifact('alice', { name: 'n', sha256: A, size: 1, createdAt: 1 });
    s.putArtifact('alice', { name: 'm', sha256: A, size: 1, createdAt: 1 });
    const running = job('bob');
    const done = job('carol');
    s.recordResolvedArtifact(running, 0, { source: 'https://x', sha256: B, size: 1, at: 1 });
    s.recordResolvedArtifact(done, 0, { source: 'https://y', sha256: B, size: 1, at: 1 });
    end(done);
    const refs = store.maintenance.referencedBlobs().map((r) => `${r.owner}/${r.sha256.slice(0, 1)}`).sort();
    expect(refs).toEqual(['alice/a', 'bob/b']);
  });
});

describe('backup', () => {
  it('writes a consistent copy with a rollback journal, and checkpoints the WAL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-store-backup-'));
    const { store, job } = clockedStore(join(dir, 'db.sqlite'));
    const id = job();
    const copyFile = join(dir, 'copy.db');
    await store.maintenance.backupTo(copyFile);
    const copy = new Database(copyFile, { readonly: true });
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(copy.prepare('SELECT id, owner FROM jobs').all()).toEqual([{ id, owner: 'alice' }]);
    copy.close();
    const cp = store.maintenance.checkpoint();
    expect(cp.busy).toBe(0);
    expect(cp.log).toBe(0); // TRUNCATE leaves an empty WAL
    store.close();
  });
});
