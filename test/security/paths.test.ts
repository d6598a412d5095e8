/**
 * Paths a user or a job controls: `..`, absolute paths, the bridge's own `.hpcb/`, names
 * longer than the file system allows, and symlinks a job plants to reach files outside its
 * directory. Nothing may be read or written outside the job directory or the user's store.
 * Real API on the `direct` adapter; the job directories are on this host.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startDaemon, type Daemon } from '../api/helpers.js';
import { listTarGz, regularFilesOfTarGz } from '../helpers/archive.js';

let d: Daemon;
let outside: string;
const SECRET = `outside-secret-${process.pid}-${Date.now()}`;
let victim: string;

beforeAll(async () => {
  outside = mkdtempSync(join(tmpdir(), 'hpcb-outside-'));
  victim = join(outside, 'victim.txt');
  writeFileSync(victim, SECRET);
  d = await startDaemon();
});
afterAll(async () => {
  await d?.close();
  rmSync(outside, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('path fields', () => {
  const escapes = ['..', '../x', 'a/../../x', 'a/b/../../../x', './..', '/etc/passwd', '/tmp', '//x', '.hpcb', '.hpcb/exit', './.hpcb/exit', './/.hpcb/job.sh'];
  const tooLong = ['n'.repeat(256), `d/${'n'.repeat(256)}`, 'é'.repeat(128) /* 256 bytes in one component */, `${'a/'.repeat(600)}x` /* > 1024 */, 'x'.repeat(4097)];
  const fields: [string, (v: string) => Record<string, unknown>][] = [
    ['inputs[0].filename', (v) => ({ inputs: [{ filename: v, content: b64('x') }] })],
    ['outputFiles[0]', (v) => ({ outputFiles: [v] })],
    ['outputDirs[0]', (v) => ({ outputDirs: [v] })],
    ['tasks[0].workdir', (v) => ({ tasks: [{ cmd: 'true', workdir: v }] })],
  ];

  it('escapes from the job directory and names over the file system limits are refused with the field named', async () => {
    let n = 0;
    for (const [field, make] of fields) {
      for (const v of [...escapes, ...tooLong]) {
        const r = await call(d, 'POST', '/jobs', { body: { name: 'p', tasks: [{ cmd: 'true' }], ...make(v) } });
        n++;
        expect({ field, v: v.slice(0, 40), status: r.status, errField: r.json.error?.field }).toEqual({ field, v: v.slice(0, 40), status: 400, errField: field });
      }
    }
    expect(n).toBe(fields.length * (escapes.length + tooLong.length));
    expect(d.bridge.list({ scope: 'all' })).toHaveLength(0);
    // At the limits exactly, names are fine.
    const ok = await call(d, 'POST', '/jobs/render', { body: { tasks: [{ cmd: 'true' }], inputs: [{ filename: `${'é'.repeat(127)}x`, content: '' }], outputFiles: [`${'d'.repeat(255)}/${'f'.repeat(255)}`] } });
    expect(ok.status).toBe(200);
  });

  it('an output name that climbs out in the download URL finds nothing', async () => {
    const r = await call(d, 'POST', '/jobs', { body: { name: 'o', tasks: [{ cmd: 'echo hi > out.txt' }], outputFiles: ['out.txt'] } });
    const id = r.json.id as number;
    expect((await call(d, 'GET', `/jobs/${id}/wait?timeout=60`)).json.status).toBe('completed');
    for (const name of ['..%2F..%2F..%2Fetc%2Fpasswd', '../../../../etc/passwd', '%2Fetc%2Fpasswd', '.hpcb%2Fjob.sh', 'out.txt%00']) {
      const got = await call(d, 'GET', `/jobs/${id}/outputs/${name}`);
      expect({ name, status: got.status }).toEqual({ name, status: 404 });
      expect(got.text).not.toContain('root:');
    }
    expect((await call(d, 'GET', `/jobs/${id}/outputs/out.txt`)).text).toBe('hi\n');
  });
});

describe('symlinks planted by a job', () => {
  it('outputs never follow a link out of the job directory: files, globs, directories and links to directories', { timeout: 120_000 }, async () => {
    const cmd = [
      `ln -s ${victim} leak.txt`,
      `ln -s ${outside} outdir`,
      'ln -s / rootlink',
      'mkdir -p real && echo fine > real/ok.txt',
      `ln -s ${victim} real/inner-leak.txt`,
      'ln -s ../../../../../../../../ real/up',
      'echo mine > mine.txt',
    ].join(' && ');
    const r = await call(d, 'POST', '/jobs', {
      body: {
        name: 'links',
        tasks: [{ cmd }],
        outputFiles: ['leak.txt', 'outdir/victim.txt', 'rootlink/etc/passwd', '*.txt', 'real/**', 'mine.txt'],
        outputDirs: ['outdir', 'real', 'rootlink'],
      },
    });
    expect(r.status).toBe(201);
    const id = r.json.id as number;
    const done = await call(d, 'GET', `/jobs/${id}/wait?timeout=60`);
    expect(done.json.status).toBe('completed');
    const list = (await call(d, 'GET', `/jobs/${id}/outputs`)).json as { outputs: { name: string; size: number }[]; problems: { name: string; reason: string }[] };
    const names = list.outputs.map((o) => o.name);
    expect(names).toContain('mine.txt');
    // Not one byte of the file outside, in any output. A directory comes back as a .tar.gz whose
    // compressed bytes never hold the plain text, so archives are listed (members and modes) and
    // unpacked by the system's tar, and every regular file in them is read.
    const archives: string[] = [];
    for (const o of list.outputs) {
      const got = await fetch(`${d.url}/api/v1/jobs/${id}/outputs/${o.name.split('/').map(encodeURIComponent).join('/')}`, { headers: { authorization: `Bearer ${d.tokens.alice}` } });
      expect(got.status).toBe(200);
      const bytes = Buffer.from(await got.arrayBuffer());
      const leaks = (b: Buffer) => b.includes(SECRET) || b.includes('root:x:0:0');
      expect({ name: o.name, leaks: leaks(bytes) }).toEqual({ name: o.name, leaks: false });
      if (!o.name.endsWith('.tar.gz')) continue;
      archives.push(o.name);
      const members = listTarGz(bytes);
      // The links the job planted are stored as links (mode l), pointing where the job said,
      // and nothing was archived through them.
      const byName = new Map(members.map((m) => [m.name.replace(/\/$/, ''), m]));
      expect(byName.get('real/inner-leak.txt')).toMatchObject({ type: 'l', target: victim });
      expect(byName.get('real/up')).toMatchObject({ type: 'l' });
      expect(members.filter((m) => m.name.startsWith('real/up/') || m.name.startsWith('real/inner-leak.txt/'))).toEqual([]);
      for (const m of members) expect({ name: m.name, type: m.type }).toEqual({ name: m.name, type: expect.stringMatching(/^[-dl]$/) });
      // Every regular file in it holds what the job wrote there, and no link target's bytes.
      const files = regularFilesOfTarGz(bytes);
      expect([...files.keys()].sort()).toEqual(members.filter((m) => m.type === '-').map((m) => m.name).sort());
      for (const [name, content] of files) expect({ name, leaks: leaks(content) }).toEqual({ name, leaks: false });
      expect(files.get('real/ok.txt')?.toString()).toBe('fine\n');
    }
    expect(archives).toEqual(['real.tar.gz']);
    expect(names).not.toContain('leak.txt');
    expect(names).not.toContain('outdir/victim.txt');
    expect(names).not.toContain('rootlink/etc/passwd');
    // What was refused is reported, by name.
    const refused = list.problems.map((p) => p.name);
    expect(refused).toEqual(expect.arrayContaining(['leak.txt']));
    expect(readFileSync(victim, 'utf8')).toBe(SECRET);
  });
});
