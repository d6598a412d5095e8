/**
 * Artifacts, outputs and logs through the real server and the real staging service (direct
 * adapter): binary-safe downloads through the SDK, Range, checksums, and isolation between users.
 */
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Artifact, HpcBridgeError, InputFile, Job, Task } from '../../src/client/index.js';
import { call, startDaemon, type Daemon } from './helpers.js';

let d: Daemon | undefined;
afterEach(async () => {
  await d?.close();
  d = undefined;
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('artifacts, outputs and logs over HTTP', () => {
  it('uploads an artifact, runs a job on it, and downloads a binary output byte-identical with the SDK', async () => {
    d = await startDaemon();
    const bytes = randomBytes(300_000); // every byte value, invalid UTF-8 sequences included
    const local = join(d.dataDir, 'big.bin');
    writeFileSync(local, bytes);
    const progress: number[] = [];
    const info = await new Artifact('big.bin', { client: d.alice }).upload(local, { onProgress: (n) => progress.push(n) });
    expect(info).toMatchObject({ name: 'big.bin', size: bytes.length, sha256: sha(bytes) });
    expect(progress.at(-1)).toBe(bytes.length);
    expect((await d.alice.listArtifacts()).map((a) => a.name)).toEqual(['big.bin']);

    const job = new Job({ name: 'copy', outputFiles: ['out.bin', 'note.txt'] }, d.alice);
    job.tasks.push(new Task('cp big.bin out.bin && cat sample.in > note.txt'));
    job.artifacts.push(new Artifact('big.bin'));
    job.inputFiles.push(new InputFile('sample.in', 'x = 1\n'));
    await job.create();
    const done = await job.wait({ timeout: 120 });
    expect(done.status).toBe('completed');

    const outputs = await job.listOutputs();
    expect(outputs.outputs.find((o) => o.name === 'out.bin')).toMatchObject({ size: bytes.length, sha256: sha(bytes) });
    const got = await job.getOutputFile('out.bin');
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.equals(bytes)).toBe(true);
    expect(await job.getOutputText('note.txt')).toBe('x = 1\n');
    const saved = await job.getOutputFile('out.bin', { saveAs: join(d.dataDir, 'dl', 'out.bin') });
    expect(readFileSync(saved).equals(bytes)).toBe(true);

    // Range: a middle slice, an open end, a suffix, and one past the end.
    const part = await call(d, 'GET', `/jobs/${job.id}/outputs/out.bin`, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${bytes.length}`);
    expect((await d.alice.downloadOutput(job.id!, 'out.bin', { range: { start: 10, end: 19 } })).equals(bytes.subarray(10, 20))).toBe(true);
    expect((await d.alice.downloadOutput(job.id!, 'out.bin', { range: { start: bytes.length - 5 } })).equals(bytes.subarray(-5))).toBe(true);
    const suffix = await fetch(`${d.url}/api/v1/jobs/${job.id}/outputs/out.bin`, { headers: { authorization: `Bearer ${d.tokens.alice}`, range: 'bytes=-7' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(-7))).toBe(true);
    const beyond = await call(d, 'GET', `/jobs/${job.id}/outputs/out.bin`, { headers: { range: `bytes=${bytes.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${bytes.length}`);

    const missing = await job.getOutputFile('nope.txt').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(HpcBridgeError);
    expect(missing).toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });

  it('a wrong X-Checksum-SHA256 stores nothing; a bad artifact name is a 400 naming it; deleting twice is 404', async () => {
    d = await startDaemon({ start: false });
    const wrong = await call(d, 'PUT', '/artifacts/a.txt', { raw: 'hello', headers: { 'x-checksum-sha256': '0'.repeat(64) } });
    expect(wrong.status, wrong.text).toBe(400);
    expect(wrong.json.error).toMatchObject({ code: 'INVALID_DEFINITION', field: 'sha256' });
    expect(wrong.json.error.message).toMatch(/checksum mismatch/);
    expect((await d.alice.listArtifacts())).toEqual([]);
    const badName = await call(d, 'PUT', '/artifacts/.hidden', { raw: 'x' });
    expect(badName.status).toBe(400);
    expect(badName.json.error.field).toBe('name');
    const ok = await call(d, 'PUT', '/artifacts/a.txt', { raw: 'hello', headers: { 'x-checksum-sha256': sha(Buffer.from('hello')) } });
    expect(ok.status).toBe(201);
    expect((await call(d, 'DELETE', '/artifacts/a.txt')).status).toBe(204);
    expect((await call(d, 'DELETE', '/artifacts/a.txt')).status).toBe(404);
  });

  it('an artifact over the size limit is refused with 413', async () => {
    d = await startDaemon({ start: false, app: { maxArtifactBytes: 1000 } });
    const big = await call(d, 'PUT', '/artifacts/big', { raw: Buffer.alloc(5000) });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('TOO_LARGE');
    expect(await d.alice.listArtifacts()).toEqual([]);
  });

  it("two users see neither each other's artifacts nor each other's outputs", async () => {
    d = await startDaemon();
    writeFileSync(join(d.dataDir, 'secret'), 'alice only');
    await d.alice.uploadArtifact('secret', join(d.dataDir, 'secret'));
    expect(await d.bob.listArtifacts()).toEqual([]);
    expect((await call(d, 'GET', '/artifacts/secret', { token: d.tokens.bob })).status).toBe(404);
    expect((await call(d, 'DELETE', '/artifacts/secret', { token: d.tokens.bob })).status).toBe(404);
    // Bob cannot use alice's artifact by name in a job either.
    const bobJob = await call(d, 'POST', '/jobs', { token: d.tokens.bob, body: { tasks: [{ cmd: 'cat secret' }], artifacts: [{ url: 'secret' }] } });
    expect(bobJob.status).toBe(400);
    const job = await new Job({ tasks: [new Task('echo result > r.txt')], outputFiles: ['r.txt'] }, d.alice).create();
    expect((await job.wait({ timeout: 120 })).status).toBe('completed');
    for (const path of [`/jobs/${job.id}/outputs`, `/jobs/${job.id}/outputs/r.txt`, `/jobs/${job.id}/stdout`]) {
      const r = await call(d, 'GET', path, { token: d.tokens.bob });
      expect([path, r.status]).toEqual([path, 404]);
    }
    expect((await d.alice.getArtifact('secret')).size).toBe(10);
  });

  it('reads stdout from increasing offsets while the job runs, then to the end', async () => {
    d = await startDaemon();
    const job = await new Job({ tasks: [new Task('for i in 1 2 3; do echo line$i; sleep 0.3; done')] }, d.alice).create();
    let offset = 0;
    let text = '';
    for (;;) {
      const chunk = await job.readLog('stdout', { offset });
      text += chunk.text;
      expect(chunk.nextOffset).toBe(offset + chunk.data.length);
      offset = chunk.nextOffset;
      if (chunk.complete) break;
      if (chunk.data.length === 0) await d.alice.waitJob(job.id!, 0.2);
    }
    expect(text).toBe('line1\nline2\nline3\n');
    const bad = await call(d, 'GET', `/jobs/${job.id}/stdout?task=5`);
    expect(bad.status).toBe(400);
    expect(bad.json.error.field).toBe('task');
  });
});
