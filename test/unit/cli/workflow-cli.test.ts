/**
 * The workflow commands of the CLI (`run --file` with a workflow, `list workflows`,
 * `describe workflow`, `wait workflow`, `download workflow`, `delete workflow`, `rerun`), run
 * in this process through main() against a real daemon on the `direct` adapter, so each
 * command costs an HTTP round trip instead of a Node start-up.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { startDaemon, type Daemon } from '../../api/helpers.js';

let d: Daemon;
let dir: string;
beforeAll(async () => {
  d = await startDaemon();
  dir = mkdtempSync(join(tmpdir(), 'hpcb-cli-wf-'));
});
afterAll(async () => {
  await d?.close();
});

/** One command as `hpc-bridge ...` with its exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  try {
    const code = await main(['--url', d.url, '--token', d.tokens.alice, ...args]);
    return { code, stdout, stderr };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('workflow commands of the CLI', { timeout: 120_000 }, () => {
  it('runs a workflow file, lists and describes it, and downloads every output as <job>/<index>/<file>', async () => {
    // A sweep squares x into out.txt; its child adds the squares it reads from its parents' directories.
    writeFileSync(
      join(dir, 'squares.yaml'),
      [
        'name: squares',
        'labels: {study: cli}',
        'jobs:',
        '  - {name: sq, tasks: [{cmd: "echo $((x * x)) > out.$x.txt"}], outputFiles: ["out.$x.txt"]}',
        '  - name: sum',
        '    tasks: [{cmd: "t=0; for p in $HPCB_PARENT_sq; do t=$((t + $(cat $p/out.*.txt))); done; echo $t > total.txt"}]',
        '    outputFiles: [total.txt]',
        'dependencies: {sq: [sum]}',
        'factories: [{type: parameterSweep, jobs: [sq], parameters: [{name: x, start: 1, end: 3, step: 1}]}]',
        '',
      ].join('\n'),
    );
    const run = await cli('run', '--wait', '--file', join(dir, 'squares.yaml'));
    expect(run.code, run.stderr).toBe(0);
    const id = Number(/Workflow created with id (\d+) \(4 jobs\)/.exec(run.stdout)?.[1]);
    expect(id).toBeGreaterThan(0);
    expect(run.stdout).toContain(`workflow ${id}: completed (4/4 completed, 0 failed, 0 running, 0 waiting)`);

    const listed = JSON.parse((await cli('list', 'workflows', '--json')).stdout) as { id: number; status: string }[];
    expect(listed.find((w) => w.id === id)?.status).toBe('completed');
    const table = await cli('list', '--workflows', '--label', 'study=cli');
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+JOBS/);
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+squares\\s+completed\\s+4\\s+4\\s+0`, 'm'));
    expect((await cli('list', 'workflows', '--label', 'study=other')).stdout.trim().split('\n')).toHaveLength(1);

    const desc = await cli('describe', 'workflow', String(id));
    expect(desc.code).toBe(0);
    expect(desc.stdout.split('\n')[0]).toBe(`workflow ${id} "squares": completed (4/4 completed, 0 failed, 0 running, 0 waiting)`);
    for (const x of [1, 2, 3]) expect(desc.stdout).toMatch(new RegExp(`^sq\\s+${x - 1}\\s+\\d+\\s+x=${x}\\s+here\\s+completed`, 'm'));
    expect(desc.stdout).toMatch(/^sum\s+0\s+\d+\s+here\s+completed/m);
    const asJson = JSON.parse((await cli('describe', 'workflow', String(id), '--json')).stdout) as { jobs: { name: string }[] };
    expect(asJson.jobs.map((j) => j.name)).toEqual(['sq', 'sq', 'sq', 'sum']);

    const target = join(dir, 'results');
    const dl = await cli('download', 'workflow', String(id), target);
    expect(dl.code, dl.stderr).toBe(0);
    expect(dl.stderr).toBe('');
    expect(dl.stdout.trim().split('\n').sort()).toEqual([join(target, 'sq/0/out.1.txt'), join(target, 'sq/1/out.2.txt'), join(target, 'sq/2/out.3.txt'), join(target, 'sum/0/total.txt')].sort());
    expect([1, 2, 3].map((x) => readFileSync(join(target, `sq/${x - 1}/out.${x}.txt`), 'utf8'))).toEqual(['1\n', '4\n', '9\n']);
    // The child read its parents' files: 1 + 4 + 9.
    expect(readFileSync(join(target, 'sum/0/total.txt'), 'utf8')).toBe('14\n');
  });

  it('a failed parent: exit 3, describe says why its child never ran; rerun runs only those and exits 0', async () => {
    const flag = join(dir, 'go');
    writeFileSync(join(dir, 'fails.yaml'), `jobs:\n  - {name: ok, tasks: [{cmd: echo ok}]}\n  - {name: bad, tasks: [{cmd: "test -f '${flag}' || exit 7; echo fixed"}]}\n  - {name: child, tasks: [{cmd: echo child}]}\ndependencies: {bad: [child]}\n`);
    const run = await cli('run', '--json', '--wait', '--file', join(dir, 'fails.yaml'));
    expect(run.code).toBe(3);
    const { id } = JSON.parse(run.stdout) as { id: number };
    const desc = (await cli('describe', 'wf', String(id))).stdout;
    expect(desc).toMatch(/^workflow \d+: failed \(1\/3 completed, 2 failed/);
    expect(desc).toMatch(/^bad\s+0\s+\d+\s+here\s+failed\s+\S*\s*task exited with code 7$/m);
    expect(desc).toMatch(/^child\s+0\s+\d+\s+here\s+failed\s+dependency failed$/m);
    const okId = (JSON.parse((await cli('describe', 'workflow', String(id), '--json')).stdout) as { jobs: { name: string; id: number }[] }).jobs.find((j) => j.name === 'ok')!.id;

    writeFileSync(flag, '');
    const rerun = await cli('rerun', String(id), '--wait');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain(`workflow ${id}: rerunning 2 jobs`);
    expect(rerun.stdout).toContain(`workflow ${id}: completed (3/3 completed`);
    const after = JSON.parse((await cli('describe', 'workflow', String(id), '--json')).stdout) as { reruns: number; jobs: { name: string; id: number }[] };
    expect(after.reruns).toBe(1);
    // The job that had completed is the same row; it did not run again.
    expect(after.jobs.find((j) => j.name === 'ok')!.id).toBe(okId);
    expect((await cli('rerun', 'workflow', String(id))).stdout).toContain('nothing to rerun (completed)');
  });

  it('delete workflow cancels every job and is idempotent; wait workflow exits 3 for it', async () => {
    writeFileSync(join(dir, 'slow.yaml'), 'jobs:\n  - {name: slow, tasks: [{cmd: sleep 60}]}\nfactories: [{type: repeat, jobs: [slow], number: 2}]\n');
    const { id } = JSON.parse((await cli('run', '--json', '--file', join(dir, 'slow.yaml'))).stdout) as { id: number };
    expect((await cli('wait', 'workflow', String(id), '--timeout', '0.5')).code).toBe(4);
    expect((await cli('delete', 'workflow', String(id))).stdout).toBe(`workflow ${id}: cancel requested\n`);
    const w = await cli('wait', 'workflow', String(id), '--timeout', '60');
    expect(w.code).toBe(3);
    expect(w.stdout).toMatch(new RegExp(`^workflow ${id}: deleted \\(0/2 completed, 0 failed, 0 running, 0 waiting, 2 deleted\\)`));
    expect((await cli('delete', 'workflow', String(id))).stdout).toBe(`workflow ${id}: already deleted\n`);
    // Nothing to download from jobs that never produced anything; not an error.
    const dl = await cli('download', 'workflow', String(id), join(dir, 'none'));
    expect(dl.code).toBe(0);
    expect(existsSync(join(dir, 'none', 'slow'))).toBe(false);
  });

  it('usage errors exit 2, an unknown or foreign workflow exits 5', async () => {
    expect((await cli('describe', 'workflow')).code).toBe(2);
    expect((await cli('describe', 'workflow', 'abc')).code).toBe(2);
    expect((await cli('list', 'things')).code).toBe(2);
    expect((await cli('delete', 'workflow')).code).toBe(2);
    expect((await cli('describe', 'workflow', '99999')).code).toBe(5);
    expect((await cli('rerun', '99999')).code).toBe(5);
  });
});
