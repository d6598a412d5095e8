/**
 * The workflow endpoints and the SDK's Workflow through the real HTTP server (direct adapter).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dependency, Job, ParameterSweep, Repeat, Task, Workflow, Zip } from '../../src/client/index.js';
import { instanceFolder } from '../../src/client/workflow.js';
import { call, startDaemon, type Daemon } from './helpers.js';

let d: Daemon;
beforeAll(async () => {
  d = await startDaemon();
});
afterAll(async () => {
  await d?.close();
});

describe('workflows over HTTP', () => {
  it('creates a workflow with the SDK, waits for it, and reads each instance through the job endpoints', async () => {
    const prep = new Job({ name: 'prep', tasks: [new Task('echo ready')] });
    const sim = new Job({ name: 'sim', tasks: [new Task('echo "x=$x"')], outputFiles: ['none.$x'] });
    const zip = new Job({ name: 'zip', tasks: [new Task('echo "$f"')] });
    const rep = new Job({ name: 'rep', tasks: [new Task('echo rep')] });
    const wf = await new Workflow(
      {
        name: 'sdk',
        jobs: [prep, sim, zip, rep],
        dependencies: [new Dependency(prep, [sim, zip])],
        factories: [new ParameterSweep(sim, [{ name: 'x', start: 0.1, end: 0.3, step: 0.1 }]), new Zip('zip', [{ name: 'f', values: ['a.dat', 'b.dat'] }]), new Repeat(rep, 2)],
      },
      d.alice,
    ).create();
    expect(wf.info!.progress.total).toBe(1 + 3 + 2 + 2);
    const done = await wf.wait({ timeout: 120 });
    expect(done.status).toBe('completed');
    expect(done.progress.completed).toBe(8);
    const second = await wf.job('sim', 1);
    expect((await second.stdout()).toString()).toBe('x=0.2\n');
    expect((await (await wf.job('zip', 1)).stdout()).toString()).toBe('b.dat\n');
    // Listing and describing; another user sees nothing.
    expect((await Workflow.list(d.alice)).map((w) => w.id)).toContain(wf.id);
    expect(await Workflow.list(d.bob)).toEqual([]);
    expect((await call(d, 'GET', `/workflows/${wf.id}`, { token: d.tokens.bob })).status).toBe(404);
    expect((await call(d, 'DELETE', `/workflows/${wf.id}`, { token: d.tokens.bob })).status).toBe(404);
  });

  it('rejects an invalid workflow with 400 naming the field, and creates nothing', async () => {
    const before = (await Workflow.list(d.alice)).length;
    const r = await call(d, 'POST', '/workflows', { token: d.tokens.alice, body: { jobs: [{ name: 'a', tasks: [{ cmd: 'x' }] }], dependencies: { a: ['ab'] } } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('INVALID_DEFINITION');
    expect(r.json.error.field).toBe('dependencies.a[0]');
    const rep = await call(d, 'POST', '/workflows', { token: d.tokens.alice, body: { jobs: [{ name: 'a', tasks: [{ cmd: 'x' }] }], factories: [{ type: 'repeat', jobs: ['a'], num: 2 }] } });
    expect(rep.status).toBe(400);
    expect(rep.json.error.field).toBe('factories[0].num');
    expect((await Workflow.list(d.alice)).length).toBe(before);
  });

  it('downloads every output as <dir>/<job>/<index>/<name>; job names never nest or escape the directory', async () => {
    const wf = await new Workflow(
      {
        jobs: [
          { name: '../up', tasks: [{ cmd: 'echo "$i" > o.txt' }], outputFiles: ['o.txt'] },
          { name: '..', tasks: [{ cmd: 'echo dots > o.txt' }], outputFiles: ['o.txt', 'missing.txt'] },
        ],
        factories: [new Repeat('../up', 2)],
      },
      d.alice,
    ).create();
    expect((await wf.wait({ timeout: 60 })).status).toBe('completed');
    const root = join(mkdtempSync(join(tmpdir(), 'hpcb-wf-dl-')), 'out');
    const r = await wf.downloadOutputs(root);
    expect(r.files.map((f) => relative(root, f)).sort()).toEqual(['.._up/0/o.txt', '.._up/1/o.txt', '__/0/o.txt']);
    expect(readFileSync(join(root, '__/0/o.txt'), 'utf8')).toBe('dots\n');
    expect(r.problems).toEqual([{ job: '..', index: 0, name: 'missing.txt', reason: expect.any(String) }]);
    expect(readdirSync(join(root, '..'))).toEqual(['out']);
    expect(instanceFolder('a/b')).toBe('a_b');
    expect(instanceFolder('.')).toBe('_');
  });

  it('deletes (cancels every job) and refuses a rerun while jobs are active', async () => {
    const wf = await new Workflow({ jobs: [{ name: 'long', tasks: [{ cmd: 'sleep 60' }] }] }, d.alice).create();
    const rerun = await call(d, 'POST', `/workflows/${wf.id}/rerun`, { token: d.tokens.alice });
    expect(rerun.status).toBe(409);
    await wf.delete();
    const done = await wf.wait({ timeout: 60 });
    expect(done.status).toBe('deleted');
    expect(done.jobs[0]!.status).toBe('deleted');
  });
});
