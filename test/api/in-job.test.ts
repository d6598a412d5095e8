/**
 * Snapshots and exec in a running job through the real server, on the direct adapter (the job is
 * a local process; test/e2e/in-job.test.ts does the same on Slurm): what a running job's files
 * read as, which paths are refused and how, size and output caps, time limits, and that another
 * user's job answers exactly as an unknown one.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HpcBridgeError, Job, Task } from '../../src/client/index.js';
import { Bridge } from '../../src/bridge.js';
import { buildSettings } from '../../src/settings/load.js';
import { call, startDaemon, type Daemon } from './helpers.js';

let d: Daemon;
let job: Job;

const SNAPSHOT_LIMIT = 4096;
const OUTPUT_LIMIT = 1000;

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-injob-'));
  const settings = buildSettings({ dataDir, logLevel: 'info', limits: { snapshotBytes: SNAPSHOT_LIMIT, execOutputBytes: OUTPUT_LIMIT, execSeconds: 30 } }, [
    { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 0.2, lostGraceSeconds: 5 } },
  ]);
  d = await startDaemon({ settings });
  // A long run: intermediate results, links in and out, a directory, a FIFO, a big file; it ends when told.
  const setup = [
    'printf "step 1 loss 0.5\\n" > progress.txt',
    'mkdir -p sub && printf "deep\\n" > sub/inner.txt',
    'ln -s progress.txt alias.txt',
    'ln -s /etc/hostname escape.txt',
    'ln -s .. updir',
    'ln -s .hpcb/job.sh script-link',
    'mkfifo pipe',
    `head -c ${SNAPSHOT_LIMIT + 1} /dev/zero > big.bin`,
    'printf "ready\\n" > ready',
    'while [ ! -f go ]; do sleep 0.2; done',
  ].join('\n');
  job = await new Job({ name: 'long-run', tasks: [new Task(setup)], resources: { walltime: 10 } }, d.alice).create();
  const until = Date.now() + 60_000;
  for (;;) {
    await job.refresh();
    if (job.status === 'running' && (await job.snapshot('ready').then((b) => b.toString() === 'ready\n', () => false))) break;
    if (Date.now() > until) throw new Error(`job ${job.id} never got ready (${job.status})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 90_000);

afterAll(async () => {
  await d?.close();
});

const refusal = async (p: Promise<unknown>): Promise<HpcBridgeError> => {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(HpcBridgeError);
  return e as HpcBridgeError;
};

describe('snapshot of a running job', () => {
  it('reads a file as it is now, through a link that stays inside, and saves it', async () => {
    expect(await job.snapshotText('progress.txt')).toBe('step 1 loss 0.5\n');
    expect(await job.snapshotText('./sub//inner.txt')).toBe('deep\n');
    expect(await job.snapshotText('alias.txt')).toBe('step 1 loss 0.5\n');
    const saved = await job.snapshot('progress.txt', { saveAs: join(d.dataDir, 'snaps', 'p.txt') });
    expect(readFileSync(saved, 'utf8')).toBe('step 1 loss 0.5\n');
    // The bytes change as the job writes: a snapshot is of now, not of a copy.
    await job.exec(['bash', '-c', 'printf "step 2 loss 0.25\\n" >> progress.txt']);
    expect(await job.snapshotText('progress.txt')).toBe('step 1 loss 0.5\nstep 2 loss 0.25\n');
    const raw = await call(d, 'GET', `/jobs/${job.id}/snapshot?path=progress.txt`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('application/octet-stream');
  });

  it('refuses paths outside the job directory, naming the field, before and after resolving links', async () => {
    const cases: [string, number, RegExp][] = [
      ['/etc/hostname', 400, /is absolute/],
      ['../other-job/out.txt', 400, /contains "\.\."/],
      ['sub/../../x', 400, /contains "\.\."/],
      ['.hpcb/job.sh', 400, /inside \.hpcb/],
      ['escape.txt', 400, /resolves outside the job directory/],
      ['updir', 400, /resolves outside the job directory/],
      ['script-link', 400, /resolves outside the job directory/],
      ['sub', 400, /is a directory/],
      ['pipe', 400, /not a regular file/],
      ['', 400, /is empty/],
      ['no-such-file.txt', 404, /has no file "no-such-file.txt"/],
      ['big.bin', 413, new RegExp(`is ${SNAPSHOT_LIMIT + 1} bytes; a snapshot reads at most ${SNAPSHOT_LIMIT}`)],
    ];
    for (const [path, status, message] of cases) {
      const r = await call(d, 'GET', `/jobs/${job.id}/snapshot?path=${encodeURIComponent(path)}`);
      expect([path, r.status], r.text).toEqual([path, status]);
      expect(r.json.error.message, path).toMatch(message);
      if (status !== 404) expect(r.json.error.field, path).toBe('path');
    }
    const e = await refusal(job.snapshot('/etc/passwd'));
    expect([e.code, e.status, e.field]).toEqual(['INVALID_DEFINITION', 400, 'path']);
    const none = await call(d, 'GET', `/jobs/${job.id}/snapshot`);
    expect([none.status, none.json.error.field]).toEqual([400, 'path']);
    // Unknown query fields are refused like everywhere else.
    expect((await call(d, 'GET', `/jobs/${job.id}/snapshot?path=progress.txt&follow=1`)).status).toBe(400);
  });
});

describe('exec in a running job', () => {
  it('returns exit status and output, runs in the job directory, caps output and cuts off at the limit', async () => {
    const r = await job.exec(['bash', '-c', 'cat progress.txt; echo "to stderr" >&2; exit 3']);
    expect(r).toMatchObject({ exitCode: 3, timedOut: false, stderr: 'to stderr\n', truncated: false, timeoutSeconds: 30 });
    expect(r.stdout).toMatch(/^step 1 loss 0.5\n/);
    // No shell between the request and the program: arguments arrive as they were sent.
    expect((await job.exec(['printf', '%s|', 'a b', '$HOME', "it's", '*'])).stdout).toBe("a b|$HOME|it's|*|");

    const big = await job.exec(['head', '-c', String(OUTPUT_LIMIT * 5), '/dev/zero']);
    expect(big).toMatchObject({ exitCode: 0, stdoutBytes: OUTPUT_LIMIT * 5, truncated: true });
    expect(big.stdout.length).toBe(OUTPUT_LIMIT);

    const slow = await job.exec(['bash', '-c', 'echo started; sleep 60'], { timeoutSeconds: 1 });
    expect(slow).toMatchObject({ timedOut: true, exitCode: null, stdout: 'started\n', timeoutSeconds: 1 });
    // A command that ignores TERM is killed as well.
    const stubborn = await job.exec(['bash', '-c', 'trap "" TERM; echo stubborn; sleep 60'], { timeoutSeconds: 1 });
    expect(stubborn).toMatchObject({ timedOut: true, exitCode: null, stdout: 'stubborn\n', stderr: '' });
    // Exit 124 of its own, before the limit, is the command's status, not a time-out.
    expect(await job.exec(['bash', '-c', 'exit 124'])).toMatchObject({ exitCode: 124, timedOut: false });
    const missing = await job.exec(['no-such-program-here']);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain('no-such-program-here');
  });

  it('refuses a bad request, naming the field', async () => {
    const post = (body: unknown) => call(d, 'POST', `/jobs/${job.id}/exec`, { body });
    const cases: [unknown, string][] = [
      [{ argv: [] }, 'argv'],
      [{ argv: ['true'], timeoutSeconds: 0 }, 'timeoutSeconds'],
      [{ argv: ['true'], timeoutSeconds: 31 }, 'timeoutSeconds'],
      [{ argv: ['true'], timeoutSeconds: 1.5 }, 'timeoutSeconds'],
      [{ argv: [''] }, 'argv[0]'],
      [{ argv: ['echo', 'a\0b'] }, 'argv[1]'],
      [{ argv: ['true'], shell: true }, 'shell'],
      [{ argv: 'echo hi' }, 'argv'],
    ];
    for (const [body, field] of cases) {
      const r = await post(body);
      expect([JSON.stringify(body), r.status], r.text).toEqual([JSON.stringify(body), 400]);
      expect(r.json.error.field, JSON.stringify(body)).toBe(field);
    }
    expect((await post({ argv: ['true'], timeoutSeconds: 31 })).json.error.message).toMatch(/from 1 to 30/);
  });
});

describe('isolation and state', () => {
  it("another user's job answers 404 exactly as an unknown job, for snapshot and exec", async () => {
    const unknown = 999_999;
    for (const [method, suffix, body] of [['GET', '/snapshot?path=progress.txt', undefined], ['POST', '/exec', { argv: ['id'] }]] as const) {
      const theirs = await call(d, method, `/jobs/${job.id}${suffix}`, { token: d.tokens.bob, ...(body ? { body } : {}) });
      const none = await call(d, method, `/jobs/${unknown}${suffix}`, { token: d.tokens.bob, ...(body ? { body } : {}) });
      expect(theirs.status).toBe(404);
      expect(theirs.json.error.code).toBe('NOT_FOUND');
      expect(theirs.json.error.message.replace(String(job.id), 'N')).toBe(none.json.error.message.replace(String(unknown), 'N'));
    }
    // Even a bad body or path does not tell bob the job exists.
    expect((await call(d, 'POST', `/jobs/${job.id}/exec`, { token: d.tokens.bob, body: { argv: [] } })).status).toBe(404);
    expect((await call(d, 'GET', `/jobs/${job.id}/snapshot?path=/etc/passwd`, { token: d.tokens.bob })).status).toBe(404);
    const e = await refusal(d.bob.snapshot(job.id!, 'progress.txt'));
    expect(e.code).toBe('NOT_FOUND');
  });

  it('a job that has ended is refused with a clear reason (409), pointing to its outputs', async () => {
    await job.exec(['touch', 'go']);
    const done = await job.wait({ timeout: 60 });
    expect(done.status).toBe('completed');
    const snap = await call(d, 'GET', `/jobs/${job.id}/snapshot?path=progress.txt`);
    expect(snap.status).toBe(409);
    expect(snap.json.error.message).toBe(`job ${job.id} is completed, not running: a snapshot reads the directory of a running job; it has ended (its collected outputs are listed at /jobs/${job.id}/outputs)`);
    const ex = await refusal(job.exec(['true']));
    expect([ex.code, ex.status]).toEqual(['CONFLICT', 409]);
    expect(ex.message).toMatch(/is completed, not running: a command can only run inside a running job/);
  });
});

describe('schedulers without a way in', () => {
  it('PBS refuses exec with the reason, before looking at the job', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-injob-pbs-'));
    const settings = buildSettings({ dataDir, logLevel: 'silent' }, [
      { file: '(test)', raw: { name: 'pbs', scheduler: 'pbs', flavor: 'pbspro', transport: 'local', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch') } },
    ]);
    const bridge = Bridge.open(settings);
    try {
      const { job: j } = bridge.submit('alice', { tasks: [{ cmd: 'sleep 60' }] });
      const e = (await bridge.exec(j.id, 'alice', { argv: ['true'] }).then(() => undefined, (x: unknown) => x)) as { code: string; message: string };
      expect(e?.code).toBe('CONFLICT');
      expect(e.message).toMatch(/where commands cannot run inside a job: PBS offers no way to run a command inside a running job from the login node/);
    } finally {
      await bridge.close();
    }
  });
});
