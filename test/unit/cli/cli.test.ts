/**
 * The CLI as a user runs it: `serve` in its own process on a config with the direct adapter,
 * `token create` against its database while it runs, then client commands and their exit codes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = join(import.meta.dirname, '../../../src/cli/main.ts');
let dir: string;
let cfg: string;
let daemon: ChildProcess;
let url: string;
let token: string;

function cli(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, HPC_BRIDGE_URL: url, HPC_BRIDGE_TOKEN: token, ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hpcb-cli-'));
  mkdirSync(join(dir, 'clusters.d'));
  cfg = join(dir, 'hpc-bridge.yaml');
  writeFileSync(cfg, `listen: {host: 127.0.0.1, port: 0}\ndataDir: ${join(dir, 'data')}\nlogLevel: info\n`);
  writeFileSync(join(dir, 'clusters.d', 'here.yaml'), `name: here\nscheduler: direct\nsharedAccount: true\nrunJobsAsRoot: true\nscratchRoot: ${join(dir, 'scratch')}\npollIntervalSeconds: 0.2\n`);
  daemon = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--config', cfg], { stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise<string>((resolve, reject) => {
    daemon.once('exit', (c) => reject(new Error(`serve exited with ${c}`)));
    createInterface({ input: daemon.stdout! }).on('line', (l) => {
      const rec = JSON.parse(l) as { msg?: string; url?: string };
      if (rec.msg === 'hpc-bridge started' && rec.url) resolve(rec.url);
    });
  });
  const created = cli(['token', 'create', '--user', 'alice', '--config', cfg]);
  expect(created.code).toBe(0);
  token = created.stdout.trim();
  expect(token).toMatch(/^hpcb_[0-9a-f]{8}_/);
}, 60_000);

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((r) => daemon.once('exit', r));
    daemon.kill('SIGTERM');
    await exited;
  }
});

// Each command is a fresh Node process compiling TypeScript through tsx: seconds each on a small machine.
describe('hpc-bridge CLI', { timeout: 240_000 }, () => {
  it('runs a one-liner with an input file and waits: exit 0, stdout readable', () => {
    writeFileSync(join(dir, 'sample.in'), 'steps = 7\n');
    const r = cli(['run', '--json', '--wait', '--cpus', '1', '--walltime', '5', '--input', join(dir, 'sample.in'), '--name', 'one', '--', 'cat', 'sample.in']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { id } = JSON.parse(r.stdout) as { id: number };
    const out = cli(['stdout', String(id)]);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('steps = 7\n');
    const desc = JSON.parse(cli(['describe', String(id)]).stdout) as { status: string; definition: { resources: { walltime: number } } };
    expect(desc.status).toBe('completed');
    expect(desc.definition.resources.walltime).toBe(5);
    const list = JSON.parse(cli(['list', '--all', '--json']).stdout) as { id: number }[];
    expect(list.map((j) => j.id)).toContain(id);
  });

  it('wait exits 3 for a failed job and 4 on timeout; unknown id exits 5', () => {
    const failed = JSON.parse(cli(['run', '--json', '--', 'exit 3']).stdout) as { id: number };
    const w = cli(['wait', String(failed.id)]);
    expect(w.code).toBe(3);
    expect(w.stdout).toContain('failed');
    const slow = JSON.parse(cli(['run', '--json', '--', 'sleep', '30']).stdout) as { id: number };
    expect(cli(['wait', String(slow.id), '--timeout', '0.5']).code).toBe(4);
    expect(cli(['delete', String(slow.id)]).code).toBe(0);
    expect(cli(['wait', '99999']).code).toBe(5);
  });

  it('dry-run prints the definition and the batch script and submits nothing', () => {
    const before = (JSON.parse(cli(['list', '--all', '--json']).stdout) as unknown[]).length;
    const r = cli(['run', '--dry-run', '--cpus', '4', '--memory', '8', '--walltime', '30', '--output', 'out.txt', '--', './simulate', '--steps', '200']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"cpus": 4');
    expect(r.stdout).toContain('# batch script');
    expect(r.stdout).toContain('./simulate --steps 200');
    expect((JSON.parse(cli(['list', '--all', '--json']).stdout) as unknown[]).length).toBe(before);
  });

  it('an invalid definition exits 8 naming the field; a bad or revoked token exits 6', () => {
    writeFileSync(join(dir, 'bad.yaml'), 'tasks:\n  - cmd: echo\n    colour: red\n');
    const bad = cli(['run', '--file', join(dir, 'bad.yaml')]);
    expect(bad.code).toBe(8);
    expect(bad.stderr).toContain('tasks[0].colour');
    expect(cli(['list'], { HPC_BRIDGE_TOKEN: 'hpcb_00000000_x' }).code).toBe(6);
    const second = cli(['token', 'create', '--user', 'bob', '--config', cfg]).stdout.trim();
    expect(cli(['list'], { HPC_BRIDGE_TOKEN: second }).code).toBe(0);
    const tokens = JSON.parse(cli(['token', 'list', '--json', '--config', cfg]).stdout) as { id: string; user: string }[];
    const bobId = tokens.find((t) => t.user === 'bob')!.id;
    expect(JSON.stringify(tokens)).not.toContain(second.split('_').slice(2).join('_') /* the whole secret: base64url may itself contain '_' */);
    expect(cli(['token', 'revoke', bobId, '--config', cfg]).code).toBe(0);
    expect(cli(['list'], { HPC_BRIDGE_TOKEN: second }).code).toBe(6);
  });

  it('clusters, config check, and usage errors', () => {
    const c = JSON.parse(cli(['clusters', '--json']).stdout) as { name: string; scheduler: string }[];
    expect(c).toEqual([expect.objectContaining({ name: 'here', scheduler: 'direct' })]);
    const ok = cli(['config', 'check', '--config', cfg]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('here (direct)');
    writeFileSync(join(dir, 'broken.yaml'), 'listen: {port: -1}\nnope: 1\n');
    expect(cli(['config', 'check', '--config', join(dir, 'broken.yaml')]).code).toBe(8);
    expect(cli(['describe']).code).toBe(2);
    expect(cli(['wait', 'abc']).code).toBe(2);
  });

  it('runs a workflow file: exit 0 when every job completed, 3 when one failed', () => {
    writeFileSync(
      join(dir, 'wf.yaml'),
      'name: cli-wf\njobs:\n  - {name: a, tasks: [{cmd: echo a}]}\n  - {name: b, tasks: [{cmd: "echo $n"}]}\ndependencies: {a: [b]}\nfactories:\n  - {type: repeat, jobs: [b], number: 2}\n',
    );
    const ok = cli(['run', '--json', '--wait', '--file', join(dir, 'wf.yaml')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ id: expect.any(Number) });
    writeFileSync(join(dir, 'wf-bad.yaml'), 'jobs:\n  - {name: a, tasks: [{cmd: exit 2}]}\n  - {name: b, tasks: [{cmd: echo b}]}\ndependencies: {a: [b]}\n');
    expect(cli(['run', '--wait', '--file', join(dir, 'wf-bad.yaml')]).code).toBe(3);
  });

  it('snapshot and exec on a running job: the file now, the output and exit status of a command (124 when cut off)', async () => {
    const started = cli(['run', '--json', '--', 'bash', '-c', 'printf "loss 0.25\\n" > progress.txt; while [ ! -f go ]; do sleep 0.2; done']);
    const { id } = JSON.parse(started.stdout) as { id: number };
    const deadline = Date.now() + 60_000;
    let snap = cli(['snapshot', String(id), 'progress.txt']);
    while (snap.code !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      snap = cli(['snapshot', String(id), 'progress.txt']);
    }
    expect(snap).toEqual({ code: 0, stdout: 'loss 0.25\n', stderr: '' });
    const saved = cli(['snapshot', String(id), 'progress.txt', '-o', join(dir, 'snap', 'p.txt')]);
    expect(saved.stdout.trim()).toBe(join(dir, 'snap', 'p.txt'));
    expect(readFileSync(join(dir, 'snap', 'p.txt'), 'utf8')).toBe('loss 0.25\n');
    const outside = cli(['snapshot', String(id), '../x']);
    expect(outside.code).toBe(8);
    expect(outside.stderr).toMatch(/contains "\.\."/);

    expect(cli(['exec', String(id), '--', 'bash', '-c', 'cat progress.txt; echo e >&2; exit 5'])).toEqual({ code: 5, stdout: 'loss 0.25\n', stderr: 'e\n' });
    const cut = cli(['exec', String(id), '--timeout', '1', '--', 'sleep', '30']);
    expect(cut.code).toBe(124);
    expect(cut.stderr).toContain('cut off at its time limit of 1 s');
    expect(cli(['exec', String(id), '--', 'touch', 'go']).code).toBe(0);
    expect(cli(['wait', String(id)]).code).toBe(0);
    const ended = cli(['exec', String(id), '--', 'true']);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toMatch(/CONFLICT: job \d+ is completed, not running/);
  });
});
