/**
 * The staging tables on their own: what src/staging/ relies on when it resumes after a restart
 * (resolved artifacts fixed at first use, cache records, a stage-out plan written whole) and
 * when it decides whether a blob's bytes may go.
 */
import { describe, expect, it } from 'vitest';
import { clockedStore } from './helpers.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('artifact names', () => {
  it('names bytes per owner, replaces a name in place, and deletes it once', () => {
    const { store } = clockedStore();
    const t = store.staging;
    t.putArtifact('alice', { name: 'x.tar', sha256: A, size: 10, createdAt: 1 });
    t.putArtifact('alice', { name: 'a.bin', sha256: B, size: 20, createdAt: 2 });
    t.putArtifact('bob', { name: 'x.tar', sha256: B, size: 20, createdAt: 3 });
    expect(t.listArtifacts('alice').map((a) => a.name)).toEqual(['a.bin', 'x.tar']);
    t.putArtifact('alice', { name: 'x.tar', sha256: B, size: 20, createdAt: 4 });
    expect(t.getArtifact('alice', 'x.tar')).toEqual({ name: 'x.tar', sha256: B, size: 20, createdAt: 4 });
    expect(t.getArtifact('bob', 'x.tar')?.createdAt).toBe(3);
    expect(t.deleteArtifact('alice', 'x.tar')).toBe(true);
    expect(t.deleteArtifact('alice', 'x.tar')).toBe(false);
    expect(t.getArtifact('alice', 'x.tar')).toBeUndefined();
    expect(t.listArtifacts('bob')).toHaveLength(1);
  });

  it('a blob is in use while its owner names it or a job of its owner that is not terminal resolved to it', () => {
    const { store, job, end } = clockedStore();
    const t = store.staging;
    t.putArtifact('alice', { name: 'n', sha256: A, size: 1, createdAt: 1 });
    expect(t.blobInUse('alice', A)).toBe(true);
    expect(t.blobInUse('bob', A)).toBe(false);
    t.deleteArtifact('alice', 'n');
    expect(t.blobInUse('alice', A)).toBe(false);

    const j1 = job('alice');
    const j2 = job('alice');
    const bobs = job('bob');
    t.recordResolvedArtifact(j1, 0, { source: 'https://x/a', sha256: A, size: 1, at: 1 });
    t.recordResolvedArtifact(bobs, 0, { source: 'https://x/b', sha256: B, size: 1, at: 1 });
    expect(t.blobInUse('alice', A)).toBe(true);
    // The job that is ending does not keep its own bytes.
    expect(t.blobInUse('alice', A, j1)).toBe(false);
    t.recordResolvedArtifact(j2, 3, { source: 'https://x/a', sha256: A, size: 1, at: 1 });
    expect(t.blobInUse('alice', A, j1)).toBe(true);
    end(j2);
    end(j1);
    expect(t.blobInUse('alice', A)).toBe(false);
    // Another owner's job never keeps alice's copy of the same bytes.
    expect(t.blobInUse('alice', B)).toBe(false);
    expect(t.blobInUse('bob', B)).toBe(true);
  });
});

describe("a job's resolved artifacts", () => {
  it('keeps the bytes of the first resolution, so a retry stages the same bytes', () => {
    const { store, job } = clockedStore();
    const t = store.staging;
    const id = job();
    expect(t.resolvedArtifact(id, 0)).toBeUndefined();
    t.recordResolvedArtifact(id, 0, { source: 'https://x/a', sha256: A, size: 5, at: 1 });
    t.recordResolvedArtifact(id, 0, { source: 'https://x/a', sha256: B, size: 6, at: 2 });
    t.recordResolvedArtifact(id, 1, { source: 'n', sha256: A, size: 5, at: 2 });
    expect(t.resolvedArtifact(id, 0)).toEqual({ sha256: A, size: 5 });
    expect(t.resolvedBlobs(id)).toEqual([A]);
  });
});

describe('cluster caches', () => {
  it('records verified bytes per cluster and cache directory, and forgets them', () => {
    const { store } = clockedStore();
    const t = store.staging;
    t.recordCached('c1', '/s/artifacts', A, 5, 1);
    expect(t.isCached('c1', '/s/artifacts', A)).toBe(true);
    expect(t.isCached('c2', '/s/artifacts', A)).toBe(false);
    expect(t.isCached('c1', '/other/artifacts', A)).toBe(false);
    t.recordCached('c1', '/s/artifacts', A, 5, 2); // a re-verification is not an error
    t.forgetCached('c1', '/s/artifacts', A);
    expect(t.isCached('c1', '/s/artifacts', A)).toBe(false);
  });
});

describe('stage-out progress', () => {
  it('records a plan, downloads, skips and completion, and reads outputs and logs apart', () => {
    const { store, job } = clockedStore();
    const t = store.staging;
    const id = job();
    expect(t.stageOut(id)).toBeUndefined();
    t.recordOutputPlan(
      id,
      [
        { name: 'out.txt', kind: 'file', remotePath: '/j/out.txt', size: 3 },
        { name: 'res.tar.gz', kind: 'directory', remotePath: '/j/res.tar.gz', size: 9 },
        { name: 'big.bin', kind: 'file', remotePath: '/j/big.bin', size: 99, skippedReason: 'too big' },
        { name: 'task.0.stdout', kind: 'log', remotePath: '/j/.hpcb/task.0.stdout', size: 4 },
      ],
      [{ name: 'missing*', reason: 'matched no file' }],
      7,
    );
    expect(t.stageOut(id)).toEqual({ completedAt: null, problems: [{ name: 'missing*', reason: 'matched no file' }] });
    const pending = t.pendingOutputs(id);
    expect(pending.map((o) => o.name)).toEqual(['out.txt', 'res.tar.gz', 'task.0.stdout']);
    expect(pending[0]).toMatchObject({ jobId: id, kind: 'file', remotePath: '/j/out.txt', size: 3, sha256: null, state: 'pending', reason: null });

    const [out, dir, log] = pending as [(typeof pending)[0], (typeof pending)[0], (typeof pending)[0]];
    t.outputStored(out.id, A, 3);
    t.skipOutput(dir.id, 'vanished');
    t.outputStored(log.id, B, 4);
    expect(t.pendingOutputs(id)).toEqual([]);
    t.completeStageOut(id, 8);
    expect(t.stageOut(id)?.completedAt).toBe(8);

    // Outputs leave the logs out; only stored bytes can be opened.
    expect(t.outputs(id).map((o) => [o.name, o.state, o.reason])).toEqual([
      ['out.txt', 'done', null],
      ['res.tar.gz', 'skipped', 'vanished'],
      ['big.bin', 'skipped', 'too big'],
    ]);
    expect(t.storedOutput(id, 'out.txt')).toMatchObject({ sha256: A, size: 3 });
    expect(t.storedOutput(id, 'res.tar.gz')).toBeUndefined();
    expect(t.storedOutput(id, 'task.0.stdout')).toBeUndefined();
    expect(t.storedLog(id, 'task.0.stdout')).toMatchObject({ sha256: B, size: 4 });
    expect(t.storedLog(id, 'out.txt')).toBeUndefined();
  });

  it('writes a plan whole or not at all: a second listing of the same job changes nothing', () => {
    const { store, job } = clockedStore();
    const t = store.staging;
    const id = job();
    t.recordOutputPlan(id, [{ name: 'a', kind: 'file', remotePath: '/j/a', size: 1 }], [], 1);
    expect(() => t.recordOutputPlan(id, [{ name: 'b', kind: 'file', remotePath: '/j/b', size: 1 }], [{ name: 'x', reason: 'y' }], 2)).toThrow();
    expect(t.outputs(id).map((o) => o.name)).toEqual(['a']);
    expect(t.stageOut(id)).toEqual({ completedAt: null, problems: [] });
  });
});
