/**
 * Small pieces both transports share, so that Local and SSH name temporaries, report progress
 * and describe failures the same way (the contract suite checks they behave alike).
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { BridgeError } from '../domain/errors.js';
import type { RemoteStat } from './transport.js';

/**
 * A hidden temporary next to `path` (same directory, so the final rename stays on one
 * filesystem and is atomic). The base name is shortened so the temporary stays under
 * NAME_MAX (255) even for long final names.
 */
export function tempSibling(path: string): string {
  const dir = posix.dirname(path);
  const base = posix.basename(path).slice(0, 180);
  return posix.join(dir, `.${base}.hpcb-${randomBytes(6).toString('hex')}.part`);
}

/**
 * Wraps an onProgress callback: never reports going backwards, and guarantees a final
 * (total, total) call, which ssh2's fastPut does not make for an empty file.
 */
export class ProgressReporter {
  private last = -1;

  constructor(private readonly total: number, private readonly cb: ((done: number, total: number) => void) | undefined) {}

  report(done: number): void {
    if (!this.cb || done <= this.last) return;
    this.last = done;
    this.cb(done, this.total);
  }

  finish(): void {
    if (this.last !== this.total) {
      this.last = this.total - 1;
      this.report(this.total);
    }
  }
}

/** S_IFMT bits of a POSIX mode, shared by lstat (local) and SFTP attrs (remote). */
export function typeFromMode(mode: number): RemoteStat['type'] {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'directory';
    case 0o120000:
      return 'symlink';
    default:
      return 'other';
  }
}

/** Refuse paths for which a recursive remove could only be a mistake. */
export function assertRemovable(path: string): void {
  const norm = posix.normalize(path);
  if (path.trim() === '' || norm === '/' || norm === '.' || norm === '..' || norm === '~') {
    throw new BridgeError('INVALID_DEFINITION', `refusing to remove ${JSON.stringify(path)}`, { context: { path } });
  }
}

export function closedError(id: string): BridgeError {
  return new BridgeError('INTERNAL', `transport ${id} is closed`, { context: { transport: id } });
}
