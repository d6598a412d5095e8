/**
 * The key-value store's parts below the API: job credentials and their bounds (a clock of the
 * test's own), the relay's scan and answer programs run for real on local directories with
 * hostile requests, and the rules for keys.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobTokens } from '../../src/auth/jobTokens.js';
import { kvAnswerLine, kvAnswerProgram, kvScanProgram, parseKvScan } from '../../src/jobdir/kv.js';
import { jobMayUseKv, withKvHooks, type KvJobAccess } from '../../src/kv/jobs.js';
import { keyProblem } from '../../src/kv/keys.js';
import { KvRelay } from '../../src/kv/relay.js';
import { KeyValueService } from '../../src/kv/service.js';
import { silentLogger } from '../../src/logging.js';
import { Store } from '../../src/store/store.js';

const LIMITS = { maxKeyBytes: 64, maxValueBytes: 16, maxKeysPerUser: 3, jobCredentialHours: 1 };
const run = (argv: string[], cwd: string, stdin = '') => spawnSync(argv[0]!, argv.slice(1), { input: stdin, encoding: 'utf8', cwd });

describe('job credentials', () => {
  it('work for their owner while the job is live, and stop at the bound, at revocation, or when the job is not live', () => {
    const store = Store.open(':memory:');
    let now = 1_000_000;
    let live = true;
    const tokens = new JobTokens(store.kv, () => live, () => now);
    const t = tokens.issue(7, 'alice', 3_600_000);
    expect(t).toMatch(/^hpcbj_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(tokens.verify(t)).toEqual({ user: 'alice', jobId: 7 });
    expect(tokens.verify(`${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    live = false;
    expect(tokens.verify(t)).toBeUndefined();
    live = true;
    now += 3_600_000;
    expect(tokens.verify(t)).toBeUndefined();
    now -= 1;
    expect(tokens.verify(t)).toBeDefined();
    // A new attempt's credential replaces the old one.
    const t2 = tokens.issue(7, 'alice', 3_600_000);
    expect(tokens.verify(t)).toBeUndefined();
    expect(tokens.verify(t2)).toBeDefined();
    expect(tokens.revokeJob(7)).toBe(1);
    expect(tokens.verify(t2)).toBeUndefined();
    expect(store.kv.tokensOfJob(7).map((r) => r.hash.length)).toEqual([32, 32]);
    store.close();
  });

  it('a job may use its credential while submitted, queued or running, and not past its walltime plus ten minutes', () => {
    const spec = { resources: { walltime: 30 } } as never;
    const started = 1_000_000;
    for (const state of ['submitting', 'queued', 'running'] as const) expect(jobMayUseKv({ state, startedAt: null, spec }, started)).toBe(true);
    for (const state of ['accepted', 'staging_in', 'finishing', 'staging_out', 'completed', 'failed', 'killed', 'deleted'] as const) expect(jobMayUseKv({ state, startedAt: null, spec }, started)).toBe(false);
    expect(jobMayUseKv({ state: 'running', startedAt: started, spec }, started + 40 * 60_000)).toBe(true);
    expect(jobMayUseKv({ state: 'running', startedAt: started, spec }, started + 40 * 60_000 + 1)).toBe(false);
    expect(jobMayUseKv(undefined, started)).toBe(false);
  });
});

describe('keys', () => {
  it('accepts path-like keys and refuses what URLs or files would change, naming the limit', () => {
    for (const k of ['a', 'sweep/run-1/best', 'x:y@z+w=v,u', 'a.b/c..d']) expect(keyProblem(k, 64), k).toBeUndefined();
    for (const k of ['', '/a', 'a/', 'a//b', 'a/./b', '../a', 'a b', 'a\nb', 'ä', 'a?b', 'a%2Fb', 'a\\b']) expect(keyProblem(k, 64), JSON.stringify(k)).toBeDefined();
    expect(keyProblem('k'.repeat(65), 64)).toBe('is 65 bytes, longer than the limit of 64 (daemon.kv.maxKeyBytes)');
  });
});

describe('the relay programs on real directories', () => {
  it('scan reads whole requests only, sends oversized values by size, and answer writes each answer and removes its request', () => {
    const root = mkdtempSync(join(tmpdir(), 'hpcb-kvrelay-'));
    const jobs = ['j1', 'j2'].map((j) => join(root, j));
    const req = (job: string, id: string, files: Record<string, string | Buffer>) => {
      const d = join(job, '.hpcb/kv/req', id);
      mkdirSync(d, { recursive: true });
      for (const [n, v] of Object.entries(files)) writeFileSync(join(d, n), v);
    };
    req(jobs[0]!, '1700000000000000001.10.1', { op: 'set', key: 'a/b', value: Buffer.from([0, 10, 255]) });
    req(jobs[0]!, '1700000000000000002.10.2', { op: 'get', key: "a/b' ; rm -rf / #" });
    req(jobs[0]!, '.tmp.1700000000000000003.10.3', { op: 'set', key: 'half', value: 'written' });
    req(jobs[0]!, '17000$(touch pwned).1', { op: 'get', key: 'x' });
    req(jobs[1]!, '1700000000000000004.11.1', { op: 'set', key: 'big', value: 'x'.repeat(17) });
    req(jobs[1]!, '1700000000000000005.11.2', { op: 'frobnicate\nmore', key: 'k' });
    mkdirSync(join(jobs[1]!, '.hpcb/kv/res'), { recursive: true });
    mkdirSync(join(jobs[0]!, '.hpcb/kv/res'), { recursive: true });

    const scan = run(kvScanProgram(16, 100, jobs), root);
    expect(scan.status).toBe(0);
    const requests = parseKvScan(scan.stdout);
    expect(requests.map((r) => [r.job, r.id, r.op, r.key])).toEqual([
      [0, '1700000000000000001.10.1', 'set', 'a/b'],
      [0, '1700000000000000002.10.2', 'get', "a/b' ; rm -rf / #"],
      [1, '1700000000000000004.11.1', 'set', 'big'],
      [1, '1700000000000000005.11.2', 'unknown', 'k'],
    ]);
    expect([...(requests[0]!.value as Buffer)]).toEqual([0, 10, 255]);
    expect(requests[2]!.value).toEqual({ tooLarge: 17 });
    expect(parseKvScan(run(kvScanProgram(16, 1, jobs), root).stdout)).toHaveLength(1);

    const store = Store.open(':memory:');
    const relay = new KvRelay(new KeyValueService(store.kv, LIMITS), silentLogger());
    const owners = [{ owner: 'alice' }, { owner: 'bob' }];
    const answers = requests.map((r) => ({ r, a: relay.apply(owners[r.job]!, r) }));
    expect(answers.map((x) => x.a.status)).toEqual([200, 400, 413, 400]);
    expect(answers[1]!.a.body.toString()).toContain('key: may contain only');
    expect(answers[2]!.a.body.toString()).toBe('value of 17 bytes is larger than the limit of 16 (daemon.kv.maxValueBytes)');
    expect([...store.kv.get('alice', 'a/b')!.value]).toEqual([0, 10, 255]);
    expect(store.kv.get('bob', 'a/b')).toBeUndefined();
    expect(relay.apply({ owner: 'bob' }, { job: 1, id: '1', op: 'get', key: 'a/b', value: undefined }).status).toBe(404);
    expect(relay.apply({ owner: 'alice' }, { job: 0, id: '1', op: 'get', key: 'a/b', value: undefined }).body).toEqual(Buffer.from([0, 10, 255]));

    const lines = answers.map(({ r, a }) => kvAnswerLine(r.job, r.id, a.status, a.body)).join('') + kvAnswerLine(0, '17000$(touch pwned).1', 200, Buffer.from('x')) + kvAnswerLine(5, '1.2.3', 200, Buffer.alloc(0));
    const answered = run(kvAnswerProgram(jobs), root, lines);
    expect(answered.status).toBe(0);
    expect(readFileSync(join(jobs[0]!, '.hpcb/kv/res/1700000000000000002.10.2/status'), 'utf8')).toBe('400\n');
    expect(readFileSync(join(jobs[1]!, '.hpcb/kv/res/1700000000000000004.11.1/body'), 'utf8')).toContain('larger than the limit of 16');
    expect(readdirSync(join(jobs[0]!, '.hpcb/kv/req')).sort()).toEqual(['.tmp.1700000000000000003.10.3', '17000$(touch pwned).1']);
    expect(readdirSync(join(jobs[1]!, '.hpcb/kv/req'))).toEqual([]);
    expect(readdirSync(join(jobs[0]!, '.hpcb/kv/res')).sort()).toEqual(['1700000000000000001.10.1', '1700000000000000002.10.2']);
    expect(readdirSync(root)).toEqual(['j1', 'j2']);
    store.close();
  });
});

describe('the key-value hooks wrapped around staging', () => {
  const job = (artifacts: number) => ({ spec: { artifacts: Array.from({ length: artifacts }, () => ({})) } }) as never;
  const rt = (kv: boolean) => ({ ...(kv ? { kvFromJobs: {} } : {}) }) as never;
  const kv = {} as KvJobAccess;

  it("keep staging's planned stage-outs (one listing program for many jobs) and say when a job needs its own stage-in", () => {
    const planned: number[] = [];
    const staging = { planStageOuts: (jobs: readonly unknown[]) => void planned.push(jobs.length), stageInNeeded: (j: { spec: { artifacts: unknown[] } }) => j.spec.artifacts.length > 0 };
    const hooks = withKvHooks(staging as never, kv);
    hooks.planStageOuts!([{}, {}, {}] as never, rt(false));
    expect(planned).toEqual([3]);
    // Without key-value access a job without artifacts travels whole in the round's stream...
    expect(hooks.stageInNeeded!(job(0), rt(false))).toBe(false);
    expect(hooks.stageInNeeded!(job(1), rt(false))).toBe(true);
    // ...with it, every job needs its helper installed before its script is written.
    expect(hooks.stageInNeeded!(job(0), rt(true))).toBe(true);
  });
});
