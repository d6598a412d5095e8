/**
 * File helpers for the transport contract and the bench: big test files are generated and
 * hashed as streams, never held in memory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';

const BLOCK = 4 << 20;

/**
 * Write `bytes` of incompressible data and return its sha256 (hex). One random 4 MiB block is
 * reused with the block number stamped into its head: /dev/urandom or a CSPRNG for a whole
 * GiB would cost seconds of CPU that the test does not need, and every block still differs.
 */
export async function makeRandomFile(path: string, bytes: number): Promise<string> {
  const seed = randomBytes(BLOCK);
  const hash = createHash('sha256');
  const fh = await fsp.open(path, 'w', 0o644);
  try {
    let written = 0;
    for (let n = 0; written < bytes; n++) {
      seed.writeUInt32BE(n, 0);
      seed.writeUInt32BE(Math.floor(n / 2 ** 32), 4);
      const chunk = seed.subarray(0, Math.min(BLOCK, bytes - written));
      hash.update(chunk);
      await fh.write(chunk, 0, chunk.length);
      written += chunk.length;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
