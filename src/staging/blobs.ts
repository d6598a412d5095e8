/**
 * The daemon's content-addressed store on its own disk: `<dataDir>/artifacts/<owner>/blobs/<sha256>`.
 *
 * An upload is streamed into `<owner>/tmp/<random>` while it is hashed and counted (never held
 * whole in memory), flushed to disk, checked against the expected checksum, and only then renamed
 * to its hash. A crash or an aborted upload leaves at most a temp file, which nothing reads and the
 * next start removes; no table row ever points at a blob before the rename.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, promises as fsp, readdirSync, rmSync } from 'node:fs';
import { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BridgeError } from '../domain/errors.js';
import { ownerDir } from './names.js';

export interface Ingested {
  sha256: string;
  size: number;
}

export class BlobStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'artifacts');
    mkdirSync(this.root, { recursive: true });
  }

  /** Remove temp files left by uploads and fetches that a crash interrupted. */
  sweepTemp(): void {
    for (const owner of readdirSync(this.root)) rmSync(join(this.root, owner, 'tmp'), { recursive: true, force: true });
  }

  blobPath(owner: string, sha256: string): string {
    return join(this.root, ownerDir(owner), 'blobs', sha256);
  }

  async has(owner: string, sha256: string): Promise<boolean> {
    return fsp
      .stat(this.blobPath(owner, sha256))
      .then((s) => s.isFile())
      .catch(() => false);
  }

  /** Stream `body` into the owner's store; TOO_LARGE beyond `maxBytes`, nothing visible on failure. */
  async ingest(owner: string, body: Readable, opts: { maxBytes: number; expectedSha256?: string; what?: string }): Promise<Ingested> {
    // The body may fail (client gone) before the pipeline below listens; without a listener
    // that error would be an uncaught exception in the daemon. The pipeline still sees it.
    body.on('error', () => {});
    const base = join(this.root, ownerDir(owner));
    const tmpDir = join(base, 'tmp');
    await fsp.mkdir(tmpDir, { recursive: true });
    await fsp.mkdir(join(base, 'blobs'), { recursive: true });
    const tmp = join(tmpDir, randomBytes(8).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    const what = opts.what ?? 'artifact';
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > opts.maxBytes) {
          cb(new BridgeError('TOO_LARGE', `${what} is larger than the limit of ${opts.maxBytes} bytes`, { context: { field: 'size', maxBytes: opts.maxBytes } }));
          return;
        }
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      // The body is piped into the pipeline rather than made part of it: a pipeline destroys
      // every stream on failure, and a destroyed HTTP request whose body was not read to the end
      // left its connection open for good once the answer was sent (the daemon's server.close()
      // then never returned: test/reliability/disk-full.test.ts). Unpiped and drained, the
      // client gets the answer and the connection is reusable.
      const written = pipeline(meter, createWriteStream(tmp, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 }));
      const onBodyError = (e: Error) => meter.destroy(e);
      const onBodyClose = () => {
        if (!body.readableEnded) meter.destroy(new Error('the upload was aborted before its end'));
      };
      body.on('error', onBodyError);
      body.on('close', onBodyClose);
      // It may have failed before this point (while the directories were being made).
      if (body.destroyed) meter.destroy(body.errored ?? new Error('the upload was aborted before its end'));
      else body.pipe(meter);
      try {
        await written;
      } finally {
        body.unpipe(meter);
        body.off('error', onBodyError);
        body.off('close', onBodyClose);
        // Refused part-way. An HTTP request: read the rest and drop it, so the client gets the
        // answer and the connection is not left paused with unread bytes. Anything else (a URL
        // being fetched): stop it, rather than download the rest for nothing.
        if (!body.readableEnded && !body.destroyed) {
          if (body instanceof IncomingMessage) body.resume();
          else body.destroy();
        }
      }
      // Durable before it becomes visible: a power cut after the rename must not leave a
      // named artifact with missing bytes.
      const fh = await fsp.open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const sha256 = hash.digest('hex');
      if (opts.expectedSha256 !== undefined && opts.expectedSha256.toLowerCase() !== sha256) {
        throw new BridgeError('INVALID_DEFINITION', `${what} checksum mismatch: expected SHA-256 ${opts.expectedSha256.toLowerCase()}, received ${sha256}`, {
          context: { field: 'sha256', problems: [{ field: 'sha256', message: 'does not match the uploaded bytes' }] },
        });
      }
      // Same hash, same bytes: renaming over an existing blob changes nothing for its readers.
      await fsp.rename(tmp, this.blobPath(owner, sha256));
      return { sha256, size };
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      if (e instanceof BridgeError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        // The daemon's own disk, not the user's request: say so, and that a retry can work once
        // space is freed. Nothing was kept (the temp file is gone, no row was written).
        throw new BridgeError('NO_SPACE', `no space left on the daemon's disk for ${what} (${code}); nothing was stored, retry once space is freed`, {
          transient: true,
          context: { path: this.root, errno: code },
          cause: e,
        });
      }
      throw new BridgeError('INTERNAL', `${what} upload interrupted: ${e instanceof Error ? e.message : String(e)}`, { transient: true, cause: e });
    }
  }

  remove(owner: string, sha256: string): void {
    rmSync(this.blobPath(owner, sha256), { force: true });
  }
}
