/**
 * Tenant isolation, enumerated from the OpenAPI document the daemon serves (so an endpoint
 * added later is covered without editing this file): every operation tried with no token, a
 * malformed token, a well-formed wrong token, a revoked token and another user's token. The
 * answer is 401 (no valid token) or 404 (another user's resource), and never a byte of the
 * owner's data. Real API on the `direct` adapter.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/tokens.js';
import { call, startDaemon, type Daemon } from '../api/helpers.js';

let d: Daemon;
const MARK = `alicesecret${randomBytes(4).toString('hex')}`;
const fx = { job: 0, workflow: 0, artifact: `data-${randomBytes(3).toString('hex')}.bin`, artifactSha: '', output: `${MARK}.txt`, bobJob: 0, kvKey: `kv/name-${randomBytes(3).toString('hex')}` };
let revoked: string;
let ops: { method: string; path: string; auth: boolean }[];
export const isolationTally = { requests: 0, leaks: 0 };

beforeAll(async () => {
  d = await startDaemon();
  const put = await call(d, 'PUT', `/artifacts/${fx.artifact}`, { raw: `bytes of ${MARK}`, headers: { 'content-type': 'application/octet-stream' } });
  expect(put.status).toBe(201);
  fx.artifactSha = put.json.sha256;
  expect((await call(d, 'PUT', `/kv/${fx.kvKey}`, { raw: `value of ${MARK}` })).status).toBe(201);
  const job = await call(d, 'POST', '/jobs', { body: { name: MARK, labels: { owner: MARK }, tasks: [{ cmd: `echo ${MARK}; echo ${MARK} >&2; echo ${MARK} > ${fx.output}`, env: { M: MARK } }], outputFiles: [fx.output], artifacts: [{ url: fx.artifact }] } });
  expect(job.status).toBe(201);
  fx.job = job.json.id;
  expect((await call(d, 'GET', `/jobs/${fx.job}/wait?timeout=60`)).json.status).toBe('completed');
  const wf = await call(d, 'POST', '/workflows', { body: { name: MARK, jobs: [{ name: 'w', tasks: [{ cmd: `echo ${MARK}` }] }] } });
  expect(wf.status).toBe(201);
  fx.workflow = wf.json.id;
  await call(d, 'GET', `/workflows/${fx.workflow}/wait?timeout=60`);
  const bobJob = await call(d, 'POST', '/jobs', { token: d.tokens.bob, body: { name: 'bobs', tasks: [{ cmd: 'true' }] } });
  fx.bobJob = bobJob.json.id;
  const tokens = new TokenStore(d.bridge.store.tokens);
  revoked = tokens.create('alice', 'to revoke').token;
  expect((await call(d, 'GET', '/jobs', { token: revoked })).status).toBe(200);
  expect(tokens.revoke(revoked)).toBe(true);
  const doc = (await call(d, 'GET', '/openapi.json', { token: null })).json as { paths: Record<string, Record<string, { security: unknown[] }>> };
  ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ method: m.toUpperCase(), path: path.replace(/^\/api\/v1/, ''), auth: op.security.length > 0 })));
});
afterAll(async () => {
  console.log(`[security] isolation: ${ops?.length ?? 0} operations, ${isolationTally.requests} cross-user or bad-token requests, ${isolationTally.leaks} leaked`);
  await d?.close();
});

/** The path with alice's resources filled in; a parameter nobody knows fails the test (add it here). */
function fill(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    if (name === 'id') return String(path.startsWith('/workflows') ? fx.workflow : fx.job);
    if (name === 'name') return path.startsWith('/artifacts') ? fx.artifact : fx.output;
    if (name === 'key') return fx.kvKey;
    throw new Error(`isolation test: no fixture for path parameter {${name}} in ${path}; add one`);
  });
}

function bodyFor(method: string, path: string): { body?: unknown; raw?: string; headers?: Record<string, string> } {
  if (method === 'PUT') return { raw: 'intruder bytes', headers: { 'content-type': 'application/octet-stream' } };
  if (method !== 'POST') return {};
  if (path === '/workflows') return { body: { name: 'x', jobs: [{ name: 'x', tasks: [{ cmd: 'true' }] }] } };
  return { body: { name: 'x', tasks: [{ cmd: 'true' }] } };
}

async function request(method: string, path: string, token: string | null) {
  isolationTally.requests++;
  // Event streams never end by themselves: read what the first moments bring, then hang up.
  if (path.startsWith('/events')) {
    const ac = new AbortController();
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const res = await fetch(`${d.url}/api/v1${path}?lastEventId=0`, { headers, signal: ac.signal });
    let text = '';
    if (res.status === 200) {
      const reader = res.body!.getReader();
      const stop = setTimeout(() => ac.abort(), 1500);
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += Buffer.from(value).toString();
        }
      } catch {
        // aborted: the stream was read for long enough
      } finally {
        clearTimeout(stop);
      }
    } else text = await res.text();
    return { status: res.status, text };
  }
  // Deleting a group of keys takes a prefix (an empty one is refused): aim it at alice's key.
  const query = method === 'DELETE' && path === '/kv' ? `?prefix=${encodeURIComponent(fx.kvKey)}` : '';
  const r = await call(d, method, `${path}${query}`, { token, ...bodyFor(method, path) });
  return { status: r.status, text: r.text };
}

// Alice's marker is in her job's name, labels, environment, stdout, outputs, workflow and the
// value of her key; her artifact's name and her key are names anybody may pick (an answer may
// repeat them), so her artifact's checksum and her key's value are what must not show.
const leaks = (text: string) => text.includes(MARK) || text.includes(fx.artifactSha);

describe('every endpoint of the OpenAPI document', () => {
  it('the document lists the endpoints this test must cover, and marks which need a token', () => {
    expect(ops.length).toBeGreaterThanOrEqual(20);
    const open = ops.filter((o) => !o.auth).map((o) => `${o.method} ${o.path}`).sort();
    expect(open).toEqual(['GET /healthz', 'GET /metrics', 'GET /openapi.json']);
  });

  it('without a valid token: 401 and no data, for missing, malformed, wrong, revoked and foreign-scheme tokens', async () => {
    const [, id] = /^hpcb_([0-9a-f]{8})_/.exec(d.tokens.alice)!;
    const wrongSecret = `hpcb_${id}_${randomBytes(32).toString('base64url')}`;
    const unknownId = `hpcb_00000000_${randomBytes(32).toString('base64url')}`;
    const bad: [string, string | null][] = [
      ['none', null],
      ['empty', ''],
      ['garbage', 'not-a-token'],
      ['wrong secret, right id', wrongSecret],
      ['unknown id', unknownId],
      ['truncated', d.tokens.alice.slice(0, -1)],
      ['extended', `${d.tokens.alice}x`],
      ['revoked', revoked],
      ['unknown job credential', `hpcbj_00000000_${randomBytes(32).toString('base64url')}`],
    ];
    for (const op of ops.filter((o) => o.auth)) {
      const path = fill(op.path);
      for (const [what, token] of bad) {
        const r = await request(op.method, path, token);
        if (leaks(r.text)) isolationTally.leaks++;
        expect({ op: `${op.method} ${op.path}`, what, status: r.status, leak: leaks(r.text) }).toEqual({ op: `${op.method} ${op.path}`, what, status: 401, leak: false });
      }
    }
    // Other ways to present a token are not accepted either.
    for (const headers of <Record<string, string>[]>[{ authorization: `Basic ${Buffer.from(`alice:${d.tokens.alice}`).toString('base64')}` }, { authorization: `Token ${d.tokens.alice}` }, { 'x-api-key': d.tokens.alice }]) {
      expect((await call(d, 'GET', `/jobs/${fx.job}`, { token: null, headers })).status).toBe(401);
    }
    expect((await call(d, 'GET', `/jobs/${fx.job}?token=${d.tokens.alice}`, { token: null })).status).toBe(401);
  });

  it("with another user's token: 404 for alice's resources, collections without them, and alice's data unchanged", async () => {
    // Bob's upload under alice's artifact name goes last: after it, the name is his too.
    const order = [...ops.filter((o) => o.auth)].sort((a, b) => Number(a.method === 'PUT') - Number(b.method === 'PUT'));
    for (const op of order) {
      const path = fill(op.path);
      const r = await request(op.method, path, d.tokens.bob);
      if (leaks(r.text)) isolationTally.leaks++;
      const hasParam = /\{\w+\}/.test(op.path);
      const op1 = `${op.method} ${op.path}`;
      if (hasParam && op.method === 'PUT') {
        // Bob uploading under the same name makes bob's own artifact (other bytes, other checksum); alice's is untouched (below).
        expect({ op: op1, status: r.status, leak: leaks(r.text) }).toEqual({ op: op1, status: 201, leak: false });
      } else if (hasParam) {
        expect({ op: op1, status: r.status, leak: leaks(r.text) }).toEqual({ op: op1, status: 404, leak: false });
      } else {
        // Collections and creation: bob's own (empty or new) data only.
        expect({ op: op1, ok: r.status < 300, leak: leaks(r.text) }).toEqual({ op: op1, ok: true, leak: false });
      }
    }
    // Bob's event stream from the beginning carries only bob's jobs.
    const ev = await request('GET', '/events', d.tokens.bob);
    const ids = [...ev.text.matchAll(/"jobId":(\d+)/g)].map((m) => Number(m[1]));
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((i) => i !== fx.job)).toBe(true);
    // Nothing bob did changed alice's things.
    const job = await call(d, 'GET', `/jobs/${fx.job}`);
    expect(job.json).toMatchObject({ status: 'completed', cancelRequested: false, name: MARK });
    expect((await call(d, 'GET', `/artifacts/${fx.artifact}`)).json.size).toBe(`bytes of ${MARK}`.length);
    expect((await call(d, 'GET', `/jobs/${fx.job}/outputs/${fx.output}`)).text).toBe(`${MARK}\n`);
    expect((await call(d, 'GET', `/workflows/${fx.workflow}`)).json.status).toBe('completed');
    expect((await call(d, 'GET', `/kv/${fx.kvKey}`)).text).toBe(`value of ${MARK}`);
  });

  it('endpoints without a token show no user data', async () => {
    for (const op of ops.filter((o) => !o.auth)) {
      const r = await request(op.method, op.path, null);
      expect({ op: op.path, status: r.status, leak: leaks(r.text), user: /\balice\b|\bbob\b/.test(r.text) }).toEqual({ op: op.path, status: 200, leak: false, user: false });
    }
  });

  it('ids are checked against the owner everywhere: bob cannot reach alice\'s job through a workflow or an id of his own', async () => {
    // A filter naming alice's workflow from bob's token lists nothing.
    const list = await call(d, 'GET', `/jobs?all=true&workflow=${fx.workflow}`, { token: d.tokens.bob });
    expect(list.json.jobs).toEqual([]);
    // Alice's id in bob's events history: 404, not an empty list that confirms the id exists.
    expect((await call(d, 'GET', `/jobs/${fx.job}/events`, { token: d.tokens.bob })).status).toBe(404);
    // And the reverse: alice cannot see bob's job.
    expect((await call(d, 'GET', `/jobs/${fx.bobJob}`)).status).toBe(404);
  });
});

describe('token storage and comparison', () => {
  it('the database holds only hashes; a token differing in its last character, or a revoked one, is refused at once', () => {
    const tokens = new TokenStore(d.bridge.store.tokens);
    // Read the table through a connection of its own, as someone holding a copy of the file would.
    const raw = new Database(d.bridge.store.file, { readonly: true });
    const dump = JSON.stringify(raw.prepare('SELECT * FROM api_tokens').all(), (_k, v) => (Buffer.isBuffer(v) || (v && v.type === 'Buffer') ? Buffer.from(v).toString('latin1') : v));
    raw.close();
    for (const t of [d.tokens.alice, d.tokens.bob]) {
      expect(dump).not.toContain(t);
      // The whole secret part: base64url may itself contain '_', so splitting on '_' could
      // leave a fragment of a character or two that any hash dump contains by chance.
      const secret = /^hpcb_[0-9a-f]{8}_(.+)$/.exec(t)?.[1];
      expect(secret).toHaveLength(43);
      expect(dump).not.toContain(secret!);
    }
    const last = d.tokens.alice.at(-1)!;
    const flipped = d.tokens.alice.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    expect(tokens.verify(flipped)).toBeUndefined();
    expect(tokens.verify(d.tokens.alice)).toBe('alice');
    const t = tokens.create('alice').token;
    expect(tokens.verify(t)).toBe('alice');
    tokens.revoke(t);
    expect(tokens.verify(t)).toBeUndefined();
  });
});
