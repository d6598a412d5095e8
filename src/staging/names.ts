/**
 * Names the data half accepts. Artifact names become file names twice (the daemon's store keys
 * them in a table, the job directory holds a file of that name), so they are one path segment
 * of a conservative alphabet; owners become one directory of the daemon's store.
 */
import { createHash } from 'node:crypto';
import { BridgeError } from '../domain/errors.js';

const ARTIFACT_NAME = /^[A-Za-z0-9._-]{1,255}$/;

/** Why `name` cannot be an artifact name, or undefined if it can. */
export function artifactNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 255) return 'is longer than 255 characters';
  if (name === '.' || name === '..' || name.includes('..')) return "must not contain '..'";
  if (!ARTIFACT_NAME.test(name)) return 'may contain only letters, digits, . _ - (no /)';
  return undefined;
}

export function checkArtifactName(name: string, field = 'name'): void {
  const problem = artifactNameProblem(name);
  if (problem) {
    throw new BridgeError('INVALID_DEFINITION', `invalid artifact name ${JSON.stringify(name)}: ${field} ${problem}`, {
      context: { field, problems: [{ field, message: problem }] },
    });
  }
}

export function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/**
 * The file name a URL artifact gets in the job directory: the last path segment when it is a
 * valid artifact name (so `.tar.gz` still unpacks), otherwise a neutral one.
 */
export function nameFromUrl(url: string, index: number): string {
  try {
    const seg = decodeURIComponent(new URL(url).pathname.split('/').filter(Boolean).pop() ?? '');
    if (seg && !artifactNameProblem(seg)) return seg;
  } catch {
    // an undecodable segment falls through to the neutral name
  }
  return `artifact-${index}`;
}

/**
 * One directory name per owner. Owners come from the API's user table and are normally plain;
 * anything else (a slash, a dot-dot, odd bytes) is replaced by a hash so it cannot climb out of
 * the store or collide with a plain name (plain names never start with '~').
 */
export function ownerDir(owner: string): string {
  if (/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(owner) && !owner.includes('..')) return owner;
  return `~${createHash('sha256').update(owner).digest('hex').slice(0, 32)}`;
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** What an artifact's file name says about unpacking it in the job directory. */
export type ArchiveKind = 'none' | 'tar' | 'tgz' | 'tbz' | 'gz' | 'bz2' | 'zip';

export function archiveKind(fileName: string): ArchiveKind {
  const n = fileName.toLowerCase();
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tgz';
  if (n.endsWith('.tar.bz2') || n.endsWith('.tbz2') || n.endsWith('.tbz')) return 'tbz';
  if (n.endsWith('.tar')) return 'tar';
  if (n.endsWith('.zip')) return 'zip';
  if (n.endsWith('.gz')) return 'gz';
  if (n.endsWith('.bz2')) return 'bz2';
  return 'none';
}

/** The file a single-file compression (`x.gz`, `x.bz2`) decompresses to. */
export function decompressedName(fileName: string, kind: ArchiveKind): string {
  if (kind === 'gz') return fileName.slice(0, -3);
  if (kind === 'bz2') return fileName.slice(0, -4);
  return fileName;
}
