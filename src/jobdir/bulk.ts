/**
 * Many job directories in one stream (programs/unpack.sh) and many small files back in one
 * stream (programs/fetch.sh): the shapes of a sweep, where per-file SFTP round trips, not bytes,
 * were the cost.
 */
import { posix } from 'node:path';
import { BridgeError } from '../domain/errors.js';
import { HPCB_DIR } from './layout.js';
import { programArgv } from './programs.js';
import { memberNameProblem, packTar, unpackTar, type TarEntry } from './tar.js';

export interface JobDirContent {
  /** The job directory (its parent is the jobs directory every job of the stream shares). */
  jobDir: string;
  /** Files relative to the job directory (inputs; `.hpcb/job.sh`). */
  files: readonly { path: string; data: Buffer; mode: number }[];
}

/**
 * The stream that makes every directory of `jobs` (with its `.hpcb/`) and writes their files.
 * All jobs must share one parent directory, the one unpack.sh runs in.
 */
export function jobDirsArchive(jobs: readonly JobDirContent[]): { jobsDir: string; archive: Buffer } {
  if (jobs.length === 0) throw new BridgeError('INTERNAL', 'no job directories to pack');
  const jobsDir = posix.dirname(jobs[0]!.jobDir);
  const entries: TarEntry[] = [];
  for (const j of jobs) {
    if (posix.dirname(j.jobDir) !== jobsDir) throw new BridgeError('INTERNAL', `job directory ${j.jobDir} is not in ${jobsDir}`);
    const top = posix.basename(j.jobDir);
    entries.push({ name: top, mode: 0o700 }, { name: `${top}/${HPCB_DIR}`, mode: 0o700 });
    for (const f of j.files) {
      // Names were checked when the job was accepted; checked again here, since this stream is
      // unpacked by tar without looking.
      const problem = memberNameProblem(f.path);
      if (problem) throw new BridgeError('INVALID_DEFINITION', `file ${JSON.stringify(f.path)} ${problem}`);
      entries.push({ name: `${top}/${f.path}`, data: f.data, mode: f.mode });
    }
  }
  return { jobsDir, archive: packTar(entries) };
}

/** Run with the archive on stdin. */
export function unpackProgram(jobsDir: string): string[] {
  return programArgv('unpack', [jobsDir]);
}

export function unpackSucceeded(stdout: string): boolean {
  return /^@@HPCB-UNPACK END$/m.test(stdout);
}

/** A path fetch.sh can send back under its own name (absolute, no `.`, `..` or empty part). */
export function fetchable(path: string): boolean {
  return path.startsWith('/') && memberNameProblem(path.slice(1)) === undefined;
}

/** The files at these absolute paths, as one stream. */
export function fetchProgram(paths: readonly string[]): string[] {
  for (const p of paths) if (!fetchable(p)) throw new BridgeError('INTERNAL', `cannot fetch ${JSON.stringify(p)}: not a plain absolute path`);
  return programArgv('fetch', paths);
}

/**
 * What fetch.sh sent: absolute path -> its bytes, or 'other' for a member that is not a regular
 * file (replaced by a link since it was listed). A path that is absent vanished on the cluster.
 * Throws (transient) when the stream is incomplete.
 */
export function parseFetch(stdout: string): Map<string, Buffer | 'other'> {
  const m = /^@@HPCB-FETCH BEGIN\n([A-Za-z0-9+/=]*)\n@@HPCB-FETCH END (\d+)$/m.exec(stdout);
  if (!m) throw new BridgeError('REMOTE_IO', 'fetching outputs did not finish', { transient: true });
  if (m[2] !== '0') throw new BridgeError('REMOTE_IO', `fetching outputs failed: tar exited ${m[2]}`, { transient: true });
  const out = new Map<string, Buffer | 'other'>();
  for (const member of unpackTar(Buffer.from(m[1]!, 'base64'))) out.set(`/${member.name}`, member.type === 'file' ? member.data : 'other');
  return out;
}
