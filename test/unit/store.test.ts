import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../src/domain/jobSpec.js';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { Store, type TransitionEvent } from '../../src/store/store.js';

const spec = parseJobSpec({ name: 'demo', labels: { project: 'x' }, tasks: [{ cmd: 'echo hi' }] });

describe('Store', () => {
  it('creates jobs with short integer ids, an accepted event, and a stable instance id', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-store-'));
    const s = Store.open(join(dir, 'db.sqlite'));
    const { job, created } = s.createJob({ owner: 'alice', cluster: 'c1', spec });
    expect(created).toBe(true);
    expect(job.id).toBe(1);
    expect(job.state).toBe('accepted');
    expect(job.status).toBe('pending');
    expect(job.labels).toEqual({ project: 'x' });
    expect(s.events(job.id).map((e) => e.to)).toEqual(['accepted']);
    const inst = s.instanceId();
    expect(inst).toMatch(/^[0-9a-f]{6}$/);
    s.close();
    const again = Store.open(join(dir, 'db.sqlite'));
    expect(again.instanceId()).toBe(inst);
    const raw = new Database(join(dir, 'db.sqlite'));
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
    again.close();
  });

  it('creates the database owner-only, WAL files included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-store-'));
    const file = join(dir, 'db.sqlite');
    const old = process.umask(0o022);
    try {
      const s = Store.open(file);
      s.createJob({ owner: 'alice', cluster: 'c1', spec });
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect((statSync(f).mode & 0o777).toString(8), f).toBe('600');
      s.close();
    } finally {
      process.umask(old);
    }
  });

  it('upgrades a database written by an older daemon, keeping the table it made for itself', () => {
    // Daemons before migration 5 created ops_scratch_removed at start-up; an upgrade must keep
    // its rows (they stop maintenance from removing the same directories again).
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-store-'));
    const file = join(dir, 'db.sqlite');
    const old = new Database(file);
    for (const m of MIGRATIONS.slice(0, 4)) old.exec(m);
    old.pragma('user_version = 4');
    old.exec(`CREATE TABLE ops_scratch_removed (job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE, removed_at INTEGER NOT NULL)`);
    old.pragma('foreign_keys = OFF'); // the job row itself is irrelevant here
    old.exec(`INSERT INTO ops_scratch_removed VALUES (7, 1000)`);
    old.close();
    const s = Store.open(file);
    const raw = new Database(file);
    expect(raw.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(raw.prepare('SELECT job_id, removed_at FROM ops_scratch_removed').all()).toEqual([{ job_id: 7, removed_at: 1000 }]);
    raw.close();
    s.close();
  });

  it('returns the same job for a reused idempotency key of the same owner only', () => {
    const s = Store.open(':memory:');
    const a = s.createJob({ owner: 'alice', cluster: 'c1', spec, idempotencyKey: 'k1' });
    const b = s.createJob({ owner: 'alice', cluster: 'c1', spec, idempotencyKey: 'k1' });
    const c = s.createJob({ owner: 'bob', cluster: 'c1', spec, idempotencyKey: 'k1' });
    expect(b.created).toBe(false);
    expect(b.job.id).toBe(a.job.id);
    expect(c.created).toBe(true);
    expect(c.job.id).not.toBe(a.job.id);
  });

  it('guards transitions by expected state and writes one event per change', () => {
    const s = Store.open(':memory:');
    const seen: TransitionEvent[] = [];
    s.on('transition', (e) => seen.push(e));
    const { job } = s.createJob({ owner: 'alice', cluster: 'c1', spec });
    s.transition(job.id, ['accepted'], 'staging_in', {}, 'staging in');
    expect(() => s.transition(job.id, ['accepted'], 'staging_in')).toThrow(/STALE|expected accepted/);
    // not allowed by the state machine
    expect(() => s.transition(job.id, ['staging_in'], 'completed')).toThrow(/not allowed/);
    s.transition(job.id, ['staging_in'], 'submitting');
    const q = s.transition(job.id, ['submitting'], 'queued', { nativeId: '42', submittedAt: 5 });
    expect(q.nativeId).toBe('42');
    expect(q.status).toBe('idle');
    expect(s.events(job.id).map((e) => `${e.from}->${e.to}`)).toEqual(['null->accepted', 'accepted->staging_in', 'staging_in->submitting', 'submitting->queued']);
    expect(seen.map((e) => e.to)).toEqual(['staging_in', 'submitting', 'queued']);
  });

  it('sets ended_at on terminal states and filters listings by scope, status, name and label', () => {
    const s = Store.open(':memory:');
    const a = s.createJob({ owner: 'alice', cluster: 'c1', spec }).job;
    const b = s.createJob({ owner: 'alice', cluster: 'c1', spec: parseJobSpec({ name: 'other', tasks: [{ cmd: 'x' }] }) }).job;
    s.createJob({ owner: 'bob', cluster: 'c1', spec });
    const del = s.transition(a.id, ['accepted'], 'deleted', { statusReason: 'cancelled by user' });
    expect(del.endedAt).not.toBeNull();
    expect(s.list({ owner: 'alice' }).map((j) => j.id)).toEqual([b.id]);
    expect(s.list({ owner: 'alice', scope: 'completed' }).map((j) => j.id)).toEqual([a.id]);
    expect(s.list({ owner: 'alice', scope: 'all' }).map((j) => j.id)).toEqual([b.id, a.id]);
    expect(s.list({ owner: 'alice', scope: 'all', status: 'deleted' }).map((j) => j.id)).toEqual([a.id]);
    expect(s.list({ owner: 'alice', scope: 'all', name: 'other' }).map((j) => j.id)).toEqual([b.id]);
    expect(s.list({ owner: 'alice', scope: 'all', labels: { project: 'x' } }).map((j) => j.id)).toEqual([a.id]);
    expect(s.getOwned(a.id, 'bob')).toBeUndefined();
  });

  it('update() only applies while the job is in one of the given states', () => {
    const s = Store.open(':memory:');
    const { job } = s.createJob({ owner: 'alice', cluster: 'c1', spec });
    expect(s.update(job.id, ['queued'], { nativeState: 'PENDING' })).toBe(false);
    expect(s.update(job.id, ['accepted'], { lastError: 'x' })).toBe(true);
    expect(s.get(job.id)!.lastError).toBe('x');
    expect(s.events(job.id)).toHaveLength(1);
  });
});
