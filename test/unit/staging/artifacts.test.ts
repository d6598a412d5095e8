/**
 * The daemon's artifact store: streamed, content-addressed, checked, capped, and nothing visible
 * when an upload fails half-way.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { BridgeError } from '../../../src/domain/errors.js';
import { body, closeAll, openBridge, until } from './helpers.js';

afterEach(closeAll);

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

function tmpFiles(dataDir: string): string[] {
  const root = join(dataDir, 'artifacts');
  return readdirSync(root).flatMap((o) => (existsSync(join(root, o, 'tmp')) ? readdirSync(join(root, o, 'tmp')) : []));
}

async function rejected(p: Promise<unknown>): Promise<BridgeError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BridgeError);
  return e as BridgeError;
}

describe('artifact store', () => {
  it('stores by content per owner, lists, replaces and deletes', async () => {
    const { bridge: b, dataDir } = openBridge();
    const s = b.staging;
    const a = await s.putArtifact('alice', 'data.bin', body('hello'), { expectedSha256: sha('hello').toUpperCase() });
    expect(a).toMatchObject({ name: 'data.bin', size: 5, sha256: sha('hello') });
    expect(readFileSync(join(dataDir, 'artifacts', 'alice', 'blobs', sha('hello')), 'utf8')).toBe('hello');
    await s.putArtifact('alice', 'copy.bin', body('hello'));
    expect(s.listArtifacts('alice').map((x) => x.name)).toEqual(['copy.bin', 'data.bin']);
    expect(s.listArtifacts('bob')).toEqual([]);
    expect(s.getArtifact('bob', 'data.bin')).toBeUndefined();

    // Replacing a name keeps the old bytes while another name still uses them.
    await s.putArtifact('alice', 'data.bin', body('world'));
    expect(s.getArtifact('alice', 'data.bin')!.sha256).toBe(sha('world'));
    expect(existsSync(join(dataDir, 'artifacts', 'alice', 'blobs', sha('hello')))).toBe(true);
    expect(s.deleteArtifact('alice', 'copy.bin')).toBe(true);
    expect(s.deleteArtifact('alice', 'copy.bin')).toBe(false);
    expect(existsSync(join(dataDir, 'artifacts', 'alice', 'blobs', sha('hello')))).toBe(false);
  });

  it('refuses names that could leave the store, with the field named', async () => {
    const { bridge: b } = openBridge();
    for (const bad of ['../x', 'a/b', '..', '', 'x'.repeat(256), 'sp ace', 'nl\n', 'a..b']) {
      const e = await rejected(b.staging.putArtifact('alice', bad, body('x')));
      expect(e.code).toBe('INVALID_DEFINITION');
      expect(e.context.field).toBe('name');
    }
    expect(b.staging.listArtifacts('alice')).toEqual([]);
  });

  it('a checksum mismatch, an oversize upload and a broken stream leave no artifact and no temp file', async () => {
    const { bridge: b, dataDir } = openBridge({ artifactBytes: 1000 });
    const s = b.staging;
    const mismatch = await rejected(s.putArtifact('alice', 'a', body('abc'), { expectedSha256: sha('abd') }));
    expect(mismatch.code).toBe('INVALID_DEFINITION');
    expect(mismatch.message).toMatch(/checksum mismatch/);

    const big = await rejected(s.putArtifact('alice', 'b', Readable.from([Buffer.alloc(600), Buffer.alloc(600)])));
    expect(big.code).toBe('TOO_LARGE');
    const smaller = await rejected(s.putArtifact('alice', 'b', body('12345'), { maxBytes: 4 }));
    expect(smaller.code).toBe('TOO_LARGE');

    const broken = new PassThrough();
    const p = s.putArtifact('alice', 'c', broken);
    broken.write(Buffer.alloc(100));
    broken.destroy(new Error('client went away'));
    expect((await rejected(p)).message).toMatch(/interrupted/);

    expect(s.listArtifacts('alice')).toEqual([]);
    expect(tmpFiles(dataDir)).toEqual([]);
    expect(readdirSync(join(dataDir, 'artifacts', 'alice', 'blobs'))).toEqual([]);
  });

  it('a second upload of the same name while the first runs is a conflict', async () => {
    const { bridge: b } = openBridge();
    const slow = new PassThrough();
    const first = b.staging.putArtifact('alice', 'same', slow);
    const e = await rejected(b.staging.putArtifact('alice', 'same', body('x')));
    expect(e.code).toBe('CONFLICT');
    slow.end('done');
    expect((await first).size).toBe(4);
  });

  it('owners with odd names get a hashed directory, never a path', async () => {
    const { bridge: b, dataDir } = openBridge();
    await b.staging.putArtifact('../../etc', 'x', body('x'));
    expect(readdirSync(join(dataDir, 'artifacts')).every((d) => d === 'alice' || d.startsWith('~'))).toBe(true);
    expect(b.staging.getArtifact('../../etc', 'x')!.size).toBe(1);
  });

  it('temp files of an upload interrupted by a crash are removed at the next start', async () => {
    const { bridge: b, dataDir } = openBridge();
    const hanging = new PassThrough();
    const p = b.staging.putArtifact('alice', 'h', hanging).catch(() => undefined);
    hanging.write(Buffer.alloc(10));
    await until('the temp file', () => tmpFiles(dataDir).length === 1);
    // A new daemon on the same data directory (the first one "crashed": its upload never ends).
    const { bridge: b2 } = openBridge({}, {}, dataDir);
    expect(tmpFiles(dataDir)).toEqual([]);
    expect(b2.staging.listArtifacts('alice')).toEqual([]);
    hanging.destroy();
    await p;
  });
});
