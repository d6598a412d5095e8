/**
 * The key-value store through a real listening daemon (real SQLite, direct adapter): the HTTP
 * routes with their limits and errors, isolation between two users, the SDK and the CLI.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { HpcBridgeError } from '../../src/client/index.js';
import { buildSettings } from '../../src/settings/load.js';
import { call, startDaemon, type Daemon } from './helpers.js';

let d: Daemon;

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-kv-'));
  const settings = buildSettings({ dataDir, logLevel: 'info', kv: { maxKeyBytes: 40, maxValueBytes: 100, maxKeysPerUser: 5 } }, [
    { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 0.2 } },
  ]);
  d = await startDaemon({ settings, start: false });
});
afterAll(async () => {
  await d.close();
});

function rawPut(path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(d.url);
    const req = request({ host: u.hostname, port: u.port, path, method: 'PUT', headers: { authorization: `Bearer ${d.tokens.alice}` } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString())).on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const put = (key: string, body: string | Buffer, token?: string, query = '') => call(d, 'PUT', `/kv/${key}${query}`, { raw: body, ...(token ? { token } : {}) });

describe('key-value API', () => {
  it('sets, gets, lists under a prefix, replaces, compares-and-swaps and deletes', async () => {
    expect((await put('run/a', 'one')).status).toBe(201);
    expect((await put('run/b', Buffer.from([0, 255, 1]))).status).toBe(201);
    expect((await put('other', 'x')).status).toBe(201);
    const got = await call(d, 'GET', '/kv/run/a');
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.text).toBe('one');

    const listed = await call(d, 'GET', '/kv?prefix=run/');
    expect(listed.json.keys.map((k: { key: string }) => k.key)).toEqual(['run/a', 'run/b']);
    expect(listed.json.keys[1]).toMatchObject({ key: 'run/b', size: 3 });
    const withValues = await call(d, 'GET', '/kv?prefix=run/&values=true');
    expect(withValues.json.keys).toEqual([
      expect.objectContaining({ key: 'run/a', value: 'one' }),
      expect.objectContaining({ key: 'run/b', valueBase64: Buffer.from([0, 255, 1]).toString('base64') }),
    ]);
    expect((await call(d, 'GET', '/kv?format=text')).text).toBe('other\nrun/a\nrun/b\n');

    const replaced = await put('run/a', 'two');
    expect(replaced.status).toBe(200);
    expect(replaced.json).toMatchObject({ key: 'run/a', size: 3 });
    const lost = await put('run/a', 'three', undefined, '?prev=one');
    expect(lost.status).toBe(409);
    expect(lost.json.error).toMatchObject({ code: 'CONFLICT', field: 'prev' });
    expect((await put('run/a', 'three', undefined, '?prev=two')).status).toBe(200);
    expect((await call(d, 'GET', '/kv/run/a')).text).toBe('three');

    expect((await call(d, 'DELETE', '/kv/run/a')).status).toBe(204);
    const gone = await call(d, 'GET', '/kv/run/a');
    expect(gone.status).toBe(404);
    expect(gone.json.error).toMatchObject({ code: 'NOT_FOUND', message: 'key "run/a" not found' });
    expect((await call(d, 'DELETE', '/kv/run/a')).status).toBe(404);
    expect((await call(d, 'DELETE', '/kv?prefix=run/')).json).toEqual({ deleted: 1 });
    expect((await call(d, 'DELETE', '/kv?prefix=')).json.error).toMatchObject({ code: 'INVALID_REQUEST', field: 'prefix' });
    expect((await call(d, 'DELETE', '/kv/other')).status).toBe(204);
  });

  it('refuses keys, values and key counts over the limits with errors naming the limit', async () => {
    const long = await put('k'.repeat(41), 'v');
    expect(long.status).toBe(400);
    expect(long.json.error).toMatchObject({ code: 'INVALID_REQUEST', field: 'key' });
    expect(long.json.error.message).toBe('key: is 41 bytes, longer than the limit of 40 (daemon.kv.maxKeyBytes)');
    for (const bad of ['a//b', 'sp%20ace', 'semi%3Bcolon', 'trailing/', 'a/./b', 'a/../b', 'a/%2E%2E/b']) {
      // node:http sends the path as written (fetch would collapse the dot segments first).
      const r = await rawPut(`/api/v1/kv/${bad}`, 'v');
      expect(r.status, bad).toBe(400);
      expect(JSON.parse(r.body).error.field, bad).toBe('key');
    }

    const big = await put('big', Buffer.alloc(101));
    expect(big.status).toBe(413);
    expect(big.json.error).toMatchObject({ code: 'TOO_LARGE', field: 'value', message: 'value of 101 bytes is larger than the limit of 100 (daemon.kv.maxValueBytes)' });
    expect((await call(d, 'GET', '/kv/big')).status).toBe(404);
    expect((await put('exact', Buffer.alloc(100))).status).toBe(201);

    for (let i = 1; i < 5; i++) expect((await put(`n${i}`, 'v')).status).toBe(201);
    const full = await put('n5', 'v');
    expect(full.status).toBe(409);
    expect(full.json.error).toMatchObject({ code: 'CONFLICT', field: 'key' });
    expect(full.json.error.message).toContain('already holds 5 keys, the limit (daemon.kv.maxKeysPerUser)');
    // Replacing a key does not add one; the limit is per user, so bob still has room.
    expect((await put('n1', 'again')).status).toBe(200);
    expect((await put('n5', 'v', d.tokens.bob)).status).toBe(201);
    expect((await call(d, 'DELETE', '/kv?prefix=n')).json).toEqual({ deleted: 4 });
    expect((await call(d, 'DELETE', '/kv?prefix=n', { token: d.tokens.bob })).json).toEqual({ deleted: 1 });
    expect((await call(d, 'DELETE', '/kv/exact')).status).toBe(204);
  });

  it("keeps each user's keys invisible to the other, with the same answers as for a missing key", async () => {
    expect((await put('shared/name', 'alice value')).status).toBe(201);
    expect((await put('alice-only', 'secret')).status).toBe(201);
    const bob = d.tokens.bob;
    const peek = await call(d, 'GET', '/kv/alice-only', { token: bob });
    expect(peek.status).toBe(404);
    expect(peek.json.error.message).toBe('key "alice-only" not found');
    expect((await call(d, 'GET', '/kv', { token: bob })).json.keys).toEqual([]);
    expect((await call(d, 'GET', '/kv?values=true&prefix=alice', { token: bob })).json.keys).toEqual([]);
    expect((await call(d, 'DELETE', '/kv/alice-only', { token: bob })).status).toBe(404);
    expect((await call(d, 'DELETE', '/kv?prefix=a', { token: bob })).json).toEqual({ deleted: 0 });
    expect((await put('alice-only', 'x', bob, '?prev=secret')).status).toBe(409);
    // The same key name is a different key for bob.
    expect((await put('shared/name', 'bob value', bob)).status).toBe(201);
    expect((await call(d, 'GET', '/kv/shared/name', { token: bob })).text).toBe('bob value');
    expect((await call(d, 'GET', '/kv/shared/name')).text).toBe('alice value');
    expect((await call(d, 'GET', '/kv/alice-only')).text).toBe('secret');
    expect((await call(d, 'GET', '/kv', { token: null })).status).toBe(401);
    await call(d, 'DELETE', '/kv?prefix=shared', { token: bob });
    await call(d, 'DELETE', '/kv?prefix=shared');
    await call(d, 'DELETE', '/kv/alice-only');
  });

  it('serves the SDK: set, get, getText, list, entries, delete, deletePrefix, compare-and-swap', async () => {
    const kv = d.alice.kv;
    expect(await kv.set('sdk/a', 'alpha')).toMatchObject({ key: 'sdk/a', size: 5 });
    await kv.set('sdk/b:c@d+e=f,g', new Uint8Array([1, 2, 3]));
    expect(await kv.getText('sdk/a')).toBe('alpha');
    expect([...(await kv.get('sdk/b:c@d+e=f,g'))]).toEqual([1, 2, 3]);
    expect((await kv.list({ prefix: 'sdk/' })).map((k) => k.key)).toEqual(['sdk/a', 'sdk/b:c@d+e=f,g']);
    expect((await kv.entries({ prefix: 'sdk/a' }))[0]).toMatchObject({ key: 'sdk/a', value: 'alpha' });
    expect((await kv.list({ prefix: 'sdk/', limit: 1, after: 'sdk/a' })).map((k) => k.key)).toEqual(['sdk/b:c@d+e=f,g']);
    await expect(kv.set('sdk/a', 'beta', { prev: 'wrong' })).rejects.toMatchObject({ code: 'CONFLICT', status: 409 });
    await kv.set('sdk/a', 'beta', { prev: 'alpha' });
    expect(await kv.getText('sdk/a')).toBe('beta');
    await expect(d.bob.kv.getText('sdk/a')).rejects.toBeInstanceOf(HpcBridgeError);
    await expect(kv.set('sdk/big', 'x'.repeat(101))).rejects.toMatchObject({ code: 'TOO_LARGE', field: 'value' });
    await kv.delete('sdk/a');
    await expect(kv.get('sdk/a')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect(await kv.deletePrefix('sdk/')).toBe(1);
    expect(await kv.list()).toEqual([]);
  });

  it('serves the CLI: kv set (argument and --file), get, list, delete', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-kv-cli-'));
    const cli = async (...args: string[]) => {
      let stdout = '';
      let stderr = '';
      const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += Buffer.from(c).toString()), true));
      const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += Buffer.from(c).toString()), true));
      try {
        const code = await main(['--url', d.url, '--token', d.tokens.alice, 'kv', ...args]);
        return { code, stdout, stderr };
      } finally {
        o.mockRestore();
        e.mockRestore();
      }
    };
    expect(await cli('set', 'cli/a', 'hello world')).toMatchObject({ code: 0, stdout: 'cli/a  11 bytes\n' });
    writeFileSync(join(dir, 'in.bin'), Buffer.from([9, 8, 7]));
    expect((await cli('set', 'cli/b', '--file', join(dir, 'in.bin'))).code).toBe(0);
    expect(await cli('get', 'cli/a')).toMatchObject({ code: 0, stdout: 'hello world' });
    expect((await cli('get', 'cli/b', '--output', join(dir, 'out.bin'))).code).toBe(0);
    expect([...readFileSync(join(dir, 'out.bin'))]).toEqual([9, 8, 7]);
    const listed = await cli('list', 'cli/', '--json');
    expect((JSON.parse(listed.stdout) as { key: string }[]).map((k) => k.key)).toEqual(['cli/a', 'cli/b']);
    expect((await cli('list')).stdout).toMatch(/^KEY\s+SIZE\s+UPDATED\ncli\/a\s+11\s/);
    const missing = await cli('get', 'cli/none');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('NOT_FOUND: key "cli/none" not found');
    expect(await cli('delete', 'cli/a')).toMatchObject({ code: 0, stdout: 'deleted cli/a\n' });
    expect(await cli('delete', '--prefix', 'cli/')).toMatchObject({ code: 0, stdout: 'deleted 1 keys\n' });
    expect((await cli('delete')).code).not.toBe(0);
  });

  it('publishes the routes in the OpenAPI document', async () => {
    const doc = (await call(d, 'GET', '/openapi.json', { token: null })).json;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/kv', '/api/v1/kv/{key}']));
  });
});
