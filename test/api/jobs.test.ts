/**
 * The jobs half of the API through a real listening server on the direct adapter: every
 * endpoint, every error status, ownership between two users, idempotency, long-poll and SSE.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HpcBridgeError, Job, Task } from '../../src/client/index.js';
import { call, startDaemon, type Daemon } from './helpers.js';

let d: Daemon | undefined;
afterEach(async () => {
  await d?.close();
  d = undefined;
});

const echo = (msg: string) => ({ name: 'echo', tasks: [{ cmd: `echo ${msg}` }] });

describe('jobs API', () => {
  it('creates, describes, lists, waits for, reads stdout of, and clones a job', async () => {
    d = await startDaemon();
    const created = await call(d, 'POST', '/jobs', { body: { name: 'hello', labels: { run: 'r1' }, tasks: [{ cmd: 'echo hello; echo oops >&2' }] } });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/jobs/${created.json.id}`);
    const id = created.json.id as number;

    const desc = await call(d, 'GET', `/jobs/${id}`);
    expect(desc.status).toBe(200);
    expect(desc.json).toMatchObject({ id, name: 'hello', user: 'alice', cluster: 'here', labels: { run: 'r1' } });
    expect(desc.json.definition.tasks[0].cmd).toBe('echo hello; echo oops >&2');

    const waited = await call(d, 'GET', `/jobs/${id}/wait?timeout=60`);
    expect(waited.status).toBe(200);
    expect(waited.json.status).toBe('completed');
    expect(waited.json.taskExitCodes).toEqual([0]);

    const out = await call(d, 'GET', `/jobs/${id}/stdout`);
    expect(out.status).toBe(200);
    expect(out.text).toBe('hello\n');
    expect(out.headers.get('x-next-offset')).toBe('6');
    const rest = await call(d, 'GET', `/jobs/${id}/stdout?offset=2`);
    expect(rest.text).toBe('llo\n');
    expect(rest.headers.get('x-next-offset')).toBe('6');
    expect((await call(d, 'GET', `/jobs/${id}/stderr`)).text).toBe('oops\n');

    // Default listing shows active jobs only; completed/all/label/name filters.
    expect((await call(d, 'GET', '/jobs')).json.jobs).toEqual([]);
    expect((await call(d, 'GET', '/jobs?completed=true')).json.jobs.map((j: { id: number }) => j.id)).toEqual([id]);
    expect((await call(d, 'GET', '/jobs?all=true&label=run=r1')).json.jobs).toHaveLength(1);
    expect((await call(d, 'GET', '/jobs?all=true&label=run=r2')).json.jobs).toHaveLength(0);
    expect((await call(d, 'GET', '/jobs?all=true&name=hello&label=run=r1')).json.jobs).toHaveLength(1);
    expect((await call(d, 'GET', '/jobs?status=completed')).json.jobs).toHaveLength(1);

    const events = await call(d, 'GET', `/jobs/${id}/events`);
    expect(events.json.events[0]).toMatchObject({ jobId: id, from: null, to: 'accepted', status: 'pending' });
    expect(events.json.events.at(-1)).toMatchObject({ to: 'completed', status: 'completed' });

    const clone = await call(d, 'POST', `/jobs/${id}/clone`);
    expect(clone.status).toBe(201);
    expect(clone.json.id).not.toBe(id);
    const cloned = await call(d, 'GET', `/jobs/${clone.json.id}/wait?timeout=60`);
    expect(cloned.json).toMatchObject({ name: 'hello', status: 'completed', labels: { run: 'r1' } });
  });

  it('Idempotency-Key returns the same job for a retried create and 409 for a different definition', async () => {
    d = await startDaemon({ start: false });
    const first = await call(d, 'POST', '/jobs', { body: echo('a'), headers: { 'idempotency-key': 'k-1' } });
    const again = await call(d, 'POST', '/jobs', { body: echo('a'), headers: { 'idempotency-key': 'k-1' } });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.json.id).toBe(first.json.id);
    const other = await call(d, 'POST', '/jobs', { body: echo('b'), headers: { 'idempotency-key': 'k-1' } });
    expect(other.status).toBe(409);
    expect(other.json.error).toMatchObject({ code: 'CONFLICT', field: 'Idempotency-Key' });
    // The same key of another user is another job.
    const bobs = await call(d, 'POST', '/jobs', { token: d.tokens.bob, body: echo('a'), headers: { 'idempotency-key': 'k-1' } });
    expect(bobs.status).toBe(201);
    expect(bobs.json.id).not.toBe(first.json.id);
    expect(d.bridge.list({ scope: 'all' })).toHaveLength(2);
  });

  it('answers every error with the right status and {error: {code, message, field}}', async () => {
    d = await startDaemon({ start: false, app: { maxJsonBytes: 4096 } });
    const bad = await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'x', colour: 'red' }] } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'INVALID_DEFINITION', field: 'tasks[0].colour' });
    expect(bad.json.error.message).toContain('unknown field');
    const noTasks = await call(d, 'POST', '/jobs', { body: { name: 'x' } });
    expect(noTasks.json.error).toMatchObject({ code: 'INVALID_DEFINITION', field: 'tasks' });
    const badCluster = await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'x' }], cluster: 'nowhere' } });
    expect(badCluster.status).toBe(400);
    expect(badCluster.json.error.field).toBe('cluster');
    const notJson = await call(d, 'POST', '/jobs', { body: '{"tasks": [' });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.code).toBe('INVALID_REQUEST');
    const big = await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'x'.repeat(5000) }] } });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('TOO_LARGE');
    // None of the refused requests left a job behind.
    expect(d.bridge.list({ scope: 'all' })).toHaveLength(0);

    const badFilter = await call(d, 'GET', '/jobs?status=finished');
    expect(badFilter.status).toBe(400);
    expect(badFilter.json.error).toMatchObject({ code: 'INVALID_REQUEST', field: 'status' });
    const unknownParam = await call(d, 'GET', '/jobs?colour=red');
    expect(unknownParam.status).toBe(400);
    expect(unknownParam.json.error.field).toBe('colour');
    const badLabel = await call(d, 'GET', '/jobs?label=novalue');
    expect(badLabel.json.error.field).toBe('label[0]');
    const badId = await call(d, 'GET', '/jobs/abc');
    expect(badId.status).toBe(400);
    expect(badId.json.error.field).toBe('id');

    expect((await call(d, 'GET', '/jobs/999')).status).toBe(404);
    expect((await call(d, 'GET', '/jobs/999')).json.error.code).toBe('NOT_FOUND');
    expect((await call(d, 'DELETE', '/jobs/999')).status).toBe(404);
    expect((await call(d, 'GET', '/jobs/999/wait?timeout=0')).status).toBe(404);
    expect((await call(d, 'GET', '/nope')).status).toBe(404);
    const wrongMethod = await call(d, 'PUT', '/jobs/1');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, DELETE');

    const noToken = await call(d, 'GET', '/jobs', { token: null });
    expect(noToken.status).toBe(401);
    expect(noToken.json.error.code).toBe('UNAUTHORIZED');
    expect(noToken.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const badToken = await call(d, 'GET', '/jobs', { token: `${d.tokens.alice.slice(0, -2)}xx` });
    expect(badToken.status).toBe(401);
  });

  it('one user cannot read, wait on, cancel, clone, list or see the events of another user\'s job', async () => {
    d = await startDaemon({ start: false });
    const { id } = (await call(d, 'POST', '/jobs', { body: echo('mine') })).json;
    const bob = d.tokens.bob;
    for (const [method, path] of [
      ['GET', `/jobs/${id}`],
      ['GET', `/jobs/${id}/wait?timeout=0`],
      ['DELETE', `/jobs/${id}`],
      ['POST', `/jobs/${id}/clone`],
      ['GET', `/jobs/${id}/events`],
      ['GET', `/jobs/${id}/stdout`],
      ['GET', `/jobs/${id}/stderr`],
      ['GET', `/jobs/${id}/outputs`],
      ['GET', `/jobs/${id}/outputs/out.txt`],
    ] as const) {
      const r = await call(d, method, path, { token: bob });
      expect([method, path, r.status, r.json.error.code]).toEqual([method, path, 404, 'NOT_FOUND']);
      // Exactly what an id that does not exist at all answers.
      expect(r.json.error.message).toBe(`job ${id} not found`);
    }
    expect((await call(d, 'GET', '/jobs?all=true', { token: bob })).json.jobs).toEqual([]);
    expect(d.bridge.get(id)!.cancelRequestedAt).toBeNull();
    expect(d.bridge.list({ scope: 'all' })).toHaveLength(1);
    // The SDK surfaces the same as a typed error.
    const e = await d.bob.getJob(id).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HpcBridgeError);
    expect(e).toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });

  it('cancels a running job; DELETE is idempotent', async () => {
    d = await startDaemon();
    const job = await new Job({ tasks: [new Task('sleep 60')] }, d.alice).create();
    for (let i = 0; i < 100 && (await job.refresh()).status !== 'running'; i++) await new Promise((r) => setTimeout(r, 100));
    expect(job.status).toBe('running');
    const del = await call(d, 'DELETE', `/jobs/${job.id}`);
    expect(del.status).toBe(200);
    expect(del.json.cancelRequested).toBe(true);
    const done = await job.wait({ timeout: 60 });
    expect(done.status).toBe('deleted');
    expect(done.statusReason).toBe('cancelled by user');
    const again = await call(d, 'DELETE', `/jobs/${job.id}`);
    expect(again.status).toBe(200);
    expect(again.json.status).toBe('deleted');
  });

  it('wait is answered by the terminal transition itself, with no reconciler polling at all', async () => {
    // No reconciler runs (start: false), so nothing polls; the only way the long-poll can be
    // answered before its hour-long timeout is the store's transition event.
    d = await startDaemon({ start: false, app: { maxWaitSeconds: 3600 } });
    const { id } = (await call(d, 'POST', '/jobs', { body: echo('x') })).json;
    const pending = call(d, 'GET', `/jobs/${id}/wait?timeout=3600`);
    let answered = false;
    void pending.then(() => (answered = true));
    for (let i = 0; i < 100 && d.app.hub.waiting === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(d.app.hub.waiting).toBe(1);
    d.bridge.store.transition(id, ['accepted'], 'staging_in');
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false); // a non-terminal change does not answer the wait
    d.bridge.store.transition(id, ['staging_in'], 'failed', { statusReason: 'driven by the test' });
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id, status: 'failed', statusReason: 'driven by the test' });
    expect(d.app.hub.waiting).toBe(0);
  });

  it('wait with a timeout answers with the still-active job', async () => {
    d = await startDaemon({ start: false });
    const { id } = (await call(d, 'POST', '/jobs', { body: echo('x') })).json;
    const r = await call(d, 'GET', `/jobs/${id}/wait?timeout=0.2`);
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('pending');
    expect(d.app.hub.waiting).toBe(0);
  });

  it('GET /events streams the caller\'s own job changes and resumes from Last-Event-ID', async () => {
    d = await startDaemon({ start: false });
    const ac = new AbortController();
    const seen: { id: number; jobId: number; to: string }[] = [];
    const stream = (async () => {
      for await (const ev of d!.alice.events({ signal: ac.signal })) {
        seen.push(ev);
        if (ev.to === 'failed') ac.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const bobJob = (await call(d, 'POST', '/jobs', { token: d.tokens.bob, body: echo('bob') })).json.id as number;
    const { id } = (await call(d, 'POST', '/jobs', { body: echo('x') })).json;
    d.bridge.store.transition(bobJob, ['accepted'], 'failed');
    d.bridge.store.transition(id, ['accepted'], 'staging_in');
    d.bridge.store.transition(id, ['staging_in'], 'failed');
    await stream;
    expect(seen.map((e) => [e.jobId, e.to])).toEqual([
      [id, 'accepted'],
      [id, 'staging_in'],
      [id, 'failed'],
    ]);
    // Resume after the first event: the rest again, and nothing of bob's.
    const resumed: string[] = [];
    const ac2 = new AbortController();
    for await (const ev of d.alice.events({ lastEventId: seen[0]!.id, signal: ac2.signal })) {
      resumed.push(ev.to);
      if (ev.to === 'failed') ac2.abort();
    }
    expect(resumed).toEqual(['staging_in', 'failed']);
    const unauth = await call(d, 'GET', '/events', { token: null });
    expect(unauth.status).toBe(401);
  });

  it('/clusters, /healthz, /openapi.json and /jobs/render', async () => {
    d = await startDaemon();
    const clusters = await d.alice.clusters();
    expect(clusters).toHaveLength(1);
    expect(clusters[0]).toMatchObject({ name: 'here', scheduler: 'direct' });
    const health = await call(d, 'GET', '/healthz', { token: null });
    expect(health.status).toBe(200);
    expect(health.json.clusters[0].name).toBe('here');

    const doc = await call(d, 'GET', '/openapi.json', { token: null });
    expect(doc.json.openapi).toBe('3.1.0');
    const create = doc.json.paths['/api/v1/jobs'].post;
    // The request body schema is the job definition schema itself.
    expect(create.requestBody.content['application/json'].schema.properties.tasks.minItems).toBe(1);
    expect(create.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    const list = doc.json.paths['/api/v1/jobs'].get.parameters.map((p: { name: string }) => p.name);
    expect(list).toEqual(expect.arrayContaining(['completed', 'all', 'status', 'name', 'label', 'limit']));
    expect(Object.keys(doc.json.paths['/api/v1/jobs/{id}/outputs/{name}'])).toEqual(['get']);
    for (const r of d.app.routes) expect(doc.json.paths[`/api/v1${r.path.replace('*', '')}`][r.method.toLowerCase()]).toBeDefined();

    const render = await d.alice.renderJob({ tasks: [{ cmd: './simulate --steps 200' }], resources: { cpus: 2, walltime: 5 } });
    expect(render.scheduler).toBe('direct');
    expect(render.script).toContain('./simulate --steps 200');
    expect(render.definition.resources).toMatchObject({ cpus: 2, walltime: 5, nodes: 1 });
    expect(d.bridge.list({ scope: 'all' })).toHaveLength(0);
  });

  it('never writes a token into the logs', async () => {
    d = await startDaemon();
    await call(d, 'GET', '/jobs');
    await call(d, 'GET', '/jobs', { token: 'hpcb_00000000_notavalidtokenatallxxxxxxxxxxxxxxxxxxxxxxxxxxx' });
    await call(d, 'POST', '/jobs', { body: { tasks: [{ cmd: 'true' }] } });
    const all = d.logs.join('');
    expect(all).toContain('"path":"/api/v1/jobs"');
    expect(all).not.toContain(d.tokens.alice);
    expect(all).not.toContain(d.tokens.alice.split('_').slice(2).join('_') /* the whole secret: base64url may itself contain '_' */);
    expect(all).not.toContain('notavalidtoken');
  });
});
