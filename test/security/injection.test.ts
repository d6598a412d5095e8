/**
 * Shell injection through every field a user controls, against the real API on the `direct`
 * adapter (jobs run as local bash processes, so anything interpreted would run on this host).
 * Each hostile value is either refused with a 400 naming the exact field, or accepted and then
 * seen back byte for byte (environment, file names, outputs, labels, stdout). A canary
 * directory that must stay empty proves no payload ran. The cluster half is
 * test/e2e/hostile-input.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startDaemon, type Daemon } from '../api/helpers.js';
import { canaries, hostilePayloads, withInvalidUtf8, type Payload } from './hostile.js';

let d: Daemon;
let canaryDir: string;
let payloads: Payload[];
/** Every (field, value) pair sent, for the report. */
export const tried = { count: 0, acceptedUnsafely: 0 };

beforeAll(async () => {
  canaryDir = mkdtempSync(join(tmpdir(), 'hpcb-canary-'));
  payloads = hostilePayloads(canaryDir);
  d = await startDaemon({ pollIntervalSeconds: 0.2 });
});
afterAll(async () => {
  await d?.close();
  console.log(`[security] injection: ${tried.count} hostile (field, value) pairs tried on the API, canary files: ${canaries(canaryDir).length}`);
  rmSync(canaryDir, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const base = () => ({ name: 'h', tasks: [{ cmd: 'true' }] });

/** Where a value goes in a definition, and the field path a refusal must name. */
interface FieldCase {
  field: string;
  where: (v: string) => Record<string, unknown>;
  path: (v: string) => string;
  /** true: validated by POST /jobs itself (the check is at submit, e.g. artifact lookup). */
  submit?: boolean;
}

const FIELDS: FieldCase[] = [
  { field: 'name', where: (v) => ({ ...base(), name: v }), path: () => 'name' },
  { field: 'label value', where: (v) => ({ ...base(), labels: { k: v } }), path: () => 'labels.k' },
  { field: 'label key', where: (v) => ({ ...base(), labels: { [v]: 'x' } }), path: (v) => `labels.${v}` },
  { field: 'env name', where: (v) => ({ ...base(), tasks: [{ cmd: 'true', env: { [v]: 'x' } }] }), path: (v) => `tasks[0].env.${v}` },
  { field: 'env value', where: (v) => ({ ...base(), tasks: [{ cmd: 'true', env: { HV: v } }] }), path: () => 'tasks[0].env.HV' },
  { field: 'input filename', where: (v) => ({ ...base(), inputs: [{ filename: v, content: b64('c') }] }), path: () => 'inputs[0].filename' },
  { field: 'output file', where: (v) => ({ ...base(), outputFiles: [v] }), path: () => 'outputFiles[0]' },
  { field: 'output dir', where: (v) => ({ ...base(), outputDirs: [v] }), path: () => 'outputDirs[0]' },
  { field: 'workdir', where: (v) => ({ ...base(), tasks: [{ cmd: 'true', workdir: v }] }), path: () => 'tasks[0].workdir' },
  { field: 'image', where: (v) => ({ ...base(), tasks: [{ cmd: 'true', image: v }] }), path: () => 'tasks[0].image' },
  { field: 'cluster', where: (v) => ({ ...base(), cluster: v }), path: () => 'cluster' },
  { field: 'queue', where: (v) => ({ ...base(), queue: v }), path: () => 'queue' },
  { field: 'account', where: (v) => ({ ...base(), account: v }), path: () => 'account' },
  { field: 'qos', where: (v) => ({ ...base(), qos: v }), path: () => 'qos' },
  { field: 'reservation', where: (v) => ({ ...base(), reservation: v }), path: () => 'reservation' },
  { field: 'constraint', where: (v) => ({ ...base(), constraint: v }), path: () => 'constraint' },
  { field: 'artifact url', where: (v) => ({ ...base(), artifacts: [{ url: v }] }), path: () => 'artifacts[0].url', submit: true },
  { field: 'artifact mountpoint', where: (v) => ({ ...base(), artifacts: [{ url: 'a.tgz', mountpoint: `d:/${v}` }] }), path: () => 'artifacts[0].mountpoint' },
];

/** Jobs whose hostile values were accepted, to be checked after they ran. */
const accepted = new Map<string, Set<string>>(); // payload id -> fields accepted

describe('hostile strings in every job field', () => {
  it('each is refused with a 400 naming the field, or accepted (validation pass, nothing runs yet)', { timeout: 120_000 }, async () => {
    for (const p of payloads) {
      const ok = new Set<string>();
      for (const f of FIELDS) {
        tried.count++;
        const r = await call(d, 'POST', f.submit ? '/jobs' : '/jobs/render', { body: f.where(p.value) });
        if (r.status === 400) {
          // The field path of the error is the exact place the hostile value was put.
          expect({ payload: p.id, field: r.json.error.field }).toEqual({ payload: p.id, field: f.path(p.value) });
          expect(r.json.error.message.length).toBeGreaterThan(0);
        } else {
          expect({ payload: p.id, field: f.field, status: r.status }).toEqual({ payload: p.id, field: f.field, status: f.submit ? 201 : 200 });
          ok.add(f.field);
        }
      }
      accepted.set(p.id, ok);
    }
    // Names, label keys, env names and scheduler words never take shell metacharacters.
    for (const [id, ok] of accepted) {
      for (const strict of ['name', 'label key', 'env name', 'cluster', 'queue', 'account', 'qos', 'reservation']) expect({ id, strict, ok: ok.has(strict) }).toEqual({ id, strict, ok: false });
    }
    // NUL and unpaired surrogates are refused wherever they appear.
    for (const id of ['nul', 'lone-surrogate']) expect({ id, accepted: [...accepted.get(id)!] }).toEqual({ id, accepted: [] });
    // An environment value may hold a line break (it is data, checked literal below); nothing else may.
    expect([...accepted.get('crlf')!]).toEqual(['env value']);
    // ...while quotes, $(), backticks and ; are legal (and must then be literal) in values and file names.
    expect(accepted.get('dollar-paren')).toEqual(new Set(['label value', 'env value', 'input filename', 'output file', 'output dir', 'workdir', 'image', 'artifact mountpoint']));
    expect(canaries(canaryDir)).toEqual([]);
  });

  it('a body that is nothing but a string with an unpaired surrogate is refused naming the body', async () => {
    for (const path of ['/jobs', '/workflows']) {
      const r = await call(d, 'POST', path, { raw: '"\\ud800$(touch /nonexistent-canary/bare)"', headers: { 'content-type': 'application/json' } });
      expect({ path, status: r.status, field: r.json?.error?.field }).toEqual({ path, status: 400, field: 'body' });
    }
  });

  it('accepted values run through to the job literally: environment, input files, outputs, workdir, labels', async () => {
    const jobs: { p: Payload; id: number; ok: Set<string> }[] = [];
    for (const p of payloads) {
      const ok = accepted.get(p.id)!;
      const v = p.value;
      const env: Record<string, string> = {};
      const cmds: string[] = [];
      const inputs: { filename: string; content: string }[] = [];
      const outputFiles: string[] = [];
      const outputDirs: string[] = [];
      if (ok.has('env value')) {
        env.HV = v;
        cmds.push(`printf '%s' "$HV"`);
      }
      if (ok.has('input filename')) {
        inputs.push({ filename: `i/${v}`, content: b64(`content of ${p.id}`) });
        env.HF = `i/${v}`;
        cmds.push('cat -- "$HF" >&2');
      }
      if (ok.has('output file')) {
        env.HO = `o/${v}`;
        outputFiles.push(`o/${v}`);
        cmds.push('mkdir -p -- "$(dirname -- "$HO")" && printf out > "$HO"');
      }
      if (ok.has('output dir')) {
        env.HD = `d/${v}`;
        outputDirs.push(`d/${v}`);
        cmds.push('mkdir -p -- "$HD" && printf in > "$HD/inside"');
      }
      const tasks: Record<string, unknown>[] = [{ cmd: cmds.join(' && ') || 'true', env }];
      if (ok.has('workdir')) {
        // The workdir must exist before the task starts: an input file creates it.
        inputs.push({ filename: `w/${v}/keep`, content: b64('k') });
        tasks.push({ cmd: 'cat keep > "$HPCB_W_CHECK" 2>/dev/null; test -f keep', workdir: `w/${v}`, env: { HPCB_W_CHECK: '/dev/null' } });
      }
      const def = { name: `inj-${p.id}`, labels: ok.has('label value') ? { k: v } : {}, tasks, inputs, outputFiles, outputDirs };
      const r = await call(d, 'POST', '/jobs', { body: def });
      expect({ p: p.id, status: r.status, err: r.json?.error }).toEqual({ p: p.id, status: 201, err: undefined });
      jobs.push({ p, id: r.json.id, ok });
    }
    for (const { p, id, ok } of jobs) {
      const v = p.value;
      const done = await call(d, 'GET', `/jobs/${id}/wait?timeout=120`);
      expect({ p: p.id, status: done.json.status, reason: done.json.statusReason }).toMatchObject({ p: p.id, status: 'completed' });
      if (ok.has('label value')) expect(done.json.labels).toEqual({ k: v });
      if (ok.has('env value')) expect((await call(d, 'GET', `/jobs/${id}/stdout`)).text).toBe(v);
      if (ok.has('input filename')) expect((await call(d, 'GET', `/jobs/${id}/stderr`)).text).toBe(`content of ${p.id}`);
      const outs = (await call(d, 'GET', `/jobs/${id}/outputs`)).json as { outputs: { name: string }[]; problems: unknown[] };
      const names = outs.outputs.map((o) => o.name);
      if (ok.has('output file')) {
        expect(names).toContain(`o/${v}`);
        const got = await call(d, 'GET', `/jobs/${id}/outputs/${encodeURIComponent(`o/${v}`)}`);
        expect({ p: p.id, status: got.status, text: got.text }).toEqual({ p: p.id, status: 200, text: 'out' });
      }
      if (ok.has('output dir')) expect(names.some((n) => n.startsWith(`d/${v}`))).toBe(true);
    }
    // A label filter with the hostile value finds exactly its job.
    const labelled = jobs.filter((j) => j.ok.has('label value'));
    for (const { p, id } of labelled) {
      const q = await call(d, 'GET', `/jobs?all=true&label=${encodeURIComponent(`k=${p.value}`)}`);
      expect({ p: p.id, ids: q.json.jobs.map((j: { id: number }) => j.id) }).toEqual({ p: p.id, ids: [id] });
    }
    expect(canaries(canaryDir)).toEqual([]);
  }, 240_000);

  it('a container image or mountpoint with shell syntax is never interpreted (the job may fail: there is no container runtime here)', async () => {
    const ids: number[] = [];
    for (const p of payloads.filter((x) => accepted.get(x.id)!.has('image'))) {
      const r = await call(d, 'POST', '/jobs', { body: { name: `img-${p.id}`, tasks: [{ cmd: 'true', image: p.value, runtime: 'apptainer' }] } });
      expect(r.status).toBe(201);
      ids.push(r.json.id);
    }
    expect(ids.length).toBeGreaterThan(5);
    for (const id of ids) {
      const w = await call(d, 'GET', `/jobs/${id}/wait?timeout=120`);
      expect(['completed', 'failed']).toContain(w.json.status);
    }
    expect(canaries(canaryDir)).toEqual([]);
  }, 240_000);

  it('workflow parameters: zip values reach the job literally; hostile parameter and job names are refused by field', async () => {
    const wf = (v: string) => ({
      name: 'w',
      jobs: [{ name: 'z', tasks: [{ cmd: 'printf "%s" "$f"; printf "%s" ${f} >&2' }] }],
      factories: [{ type: 'zip', jobs: ['z'], parameters: [{ name: 'f', values: [v] }] }],
    });
    // All submitted first, then waited for: the instances run side by side.
    const started: { p: Payload; id: number }[] = [];
    for (const p of payloads) {
      tried.count += 3;
      const r = await call(d, 'POST', '/workflows', { body: wf(p.value) });
      if (r.status === 400) {
        expect({ p: p.id, field: r.json.error.field }).toEqual({ p: p.id, field: 'factories[0].parameters[0].values[0]' });
      } else {
        expect({ p: p.id, status: r.status }).toEqual({ p: p.id, status: 201 });
        started.push({ p, id: r.json.id });
      }
      const badParam = await call(d, 'POST', '/workflows', { body: { ...wf('a'), factories: [{ type: 'zip', jobs: ['z'], parameters: [{ name: p.value, values: ['a'] }] }] } });
      expect({ p: p.id, status: badParam.status, field: badParam.json.error?.field }).toEqual({ p: p.id, status: 400, field: 'factories[0].parameters[0].name' });
      const badDep = await call(d, 'POST', '/workflows', { body: { ...wf('a'), factories: [], dependencies: { z: [p.value] } } });
      expect(badDep.status).toBe(400);
      expect(badDep.json.error.field).toMatch(/^dependencies\./);
    }
    expect(started.length).toBeGreaterThan(10);
    for (const { p, id } of started) {
      const done = await call(d, 'GET', `/workflows/${id}/wait?timeout=120`);
      expect({ p: p.id, status: done.json.status }).toEqual({ p: p.id, status: 'completed' });
      const jobId = done.json.jobs[0].id as number;
      expect({ p: p.id, out: (await call(d, 'GET', `/jobs/${jobId}/stdout`)).text }).toEqual({ p: p.id, out: p.value });
    }
    expect(canaries(canaryDir)).toEqual([]);
  }, 240_000);

  it('artifact names, Idempotency-Key and query parameters: refused by name or kept literal', async () => {
    for (const p of payloads) {
      tried.count += 4;
      // A URL cannot carry an unpaired surrogate at all (encodeURIComponent refuses it).
      if (p.id === 'lone-surrogate') continue;
      const put = await call(d, 'PUT', `/artifacts/${encodeURIComponent(p.value)}`, { raw: 'bytes', headers: { 'content-type': 'application/octet-stream' } });
      expect({ p: p.id, status: put.status, field: put.json?.error?.field }).toEqual({ p: p.id, status: 400, field: 'name' });
      const get = await call(d, 'GET', `/artifacts/${encodeURIComponent(p.value)}`);
      expect([400, 404]).toContain(get.status);
      const list = await call(d, 'GET', `/jobs?all=true&name=${encodeURIComponent(p.value)}`);
      if (list.status === 400) expect(list.json.error.field).toBe('name');
      else expect(list.json.jobs).toEqual([]);
      // Headers cannot carry control bytes at all; the printable payloads are keys like any other.
      if (/^[\x21-\x7e]+$/.test(p.value)) {
        const k = await call(d, 'POST', '/jobs', { body: { name: 'idem', tasks: [{ cmd: 'true' }] }, headers: { 'idempotency-key': p.value } });
        expect(k.status).toBe(201);
        const again = await call(d, 'POST', '/jobs', { body: { name: 'idem', tasks: [{ cmd: 'true' }] }, headers: { 'idempotency-key': p.value } });
        expect({ status: again.status, id: again.json.id }).toEqual({ status: 200, id: k.json.id });
      }
    }
    expect(canaries(canaryDir)).toEqual([]);
  });

  it('a body that is not UTF-8 is refused with a 400 naming the body, whichever field holds the bytes', async () => {
    for (const where of ['name', 'env', 'label', 'filename', 'cmd']) {
      tried.count++;
      const def = {
        name: where === 'name' ? '@@' : 'n',
        labels: { k: where === 'label' ? '@@' : 'v' },
        tasks: [{ cmd: where === 'cmd' ? 'echo @@' : 'true', env: { V: where === 'env' ? '@@' : 'v' } }],
        inputs: [{ filename: where === 'filename' ? 'f@@' : 'f', content: '' }],
      };
      const r = await call(d, 'POST', '/jobs', { raw: withInvalidUtf8(JSON.stringify(def), '@@'), headers: { 'content-type': 'application/json' } });
      expect({ where, status: r.status, field: r.json.error.field }).toEqual({ where, status: 400, field: 'body' });
      expect(r.json.error.message).toMatch(/UTF-8/);
    }
    expect(canaries(canaryDir)).toEqual([]);
  });
});
