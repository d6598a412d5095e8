/**
 * The remote programs of the data half (src/jobdir/programs/*.sh) and their parsers: one exec
 * per job (or per artifact) instead of one per file, every path and user string passed as a
 * positional argument. Names travel back base64-encoded, because a job may create files whose
 * names contain spaces, quotes or newlines.
 */
import { posix } from 'node:path';
import { FILES, HPCB_DIR, OUTDIR_PACK_DIR } from '../jobdir/layout.js';
import { programArgv } from '../jobdir/programs.js';
import { decompressedName, type ArchiveKind } from './names.js';

export { OUTDIR_PACK_DIR };

/** `@@HPCB-CACHE <sha256|ABSENT>`: what a cache file holds now (a cache entry the DB forgot). */
export function cacheProbeProgram(cacheFile: string): string[] {
  return programArgv('cache-probe', [cacheFile]);
}

export function parseCacheProbe(stdout: string): string | null {
  const m = /^@@HPCB-CACHE (\S+)$/m.exec(stdout);
  return m && m[1] !== 'ABSENT' ? m[1]! : null;
}

/**
 * Verify an uploaded temp file with sha256sum, then make it read-only (job directories hold hard
 * links to it) and rename it to its final name. A mismatch removes it.
 * `@@HPCB-VERIFY OK` or `@@HPCB-VERIFY BAD <sha256>`.
 */
export function cacheInstallProgram(tmp: string, final: string, sha256: string): string[] {
  return programArgv('cache-install', [tmp, final, sha256]);
}

export function parseCacheInstall(stdout: string): { ok: true } | { ok: false; got: string } {
  const m = /^@@HPCB-VERIFY (OK|BAD)(?: (\S+))?$/m.exec(stdout);
  if (m?.[1] === 'OK') return { ok: true };
  return { ok: false, got: m?.[2] ?? 'no answer' };
}

export interface PlaceItem {
  index: number;
  /** Absolute path of the verified cache file. */
  cacheFile: string;
  size: number;
  /** File name in the job directory (an artifact name: one path segment). */
  fileName: string;
  executable: boolean;
  kind: ArchiveKind;
}

/**
 * Put each artifact into the job directory and unpack it there.
 *
 * A plain artifact is hard-linked to the cache file (no copy, no disk), falling back to a copy
 * where the job directory is on another filesystem. An executable one is always copied: a hard
 * link shares its mode with the cache file and every other job's link. Archives are unpacked
 * into the job directory (tar keeps modes; GNU tar refuses members with '..'); `.gz` and `.bz2`
 * decompress to the name without the suffix, via a temp name. A cache file that is missing or
 * of the wrong size is reported (the daemon uploads it again) rather than staged.
 *
 * `@@HPCB-IN <index> OK`, `@@HPCB-IN <index> MISSING`, `@@HPCB-IN <index> FAIL <base64 stderr>`,
 * `@@HPCB-IN - NODIR`, and `@@HPCB-IN - END` last.
 */
export function placeProgram(jobDir: string, items: readonly PlaceItem[]): string[] {
  const args = [jobDir, `${HPCB_DIR}/${FILES.stageInErr}`];
  for (const it of items) {
    const single = it.kind === 'gz' || it.kind === 'bz2';
    const out = single ? decompressedName(it.fileName, it.kind) || `${it.fileName}.out` : it.fileName;
    args.push(String(it.index), it.cacheFile, String(it.size), it.fileName, it.executable ? 'exec' : 'plain', it.kind, out);
  }
  return programArgv('place', args);
}

export type PlaceResult = { index: number; status: 'ok' } | { index: number; status: 'missing' } | { index: number; status: 'fail'; message: string };

export function parsePlaceOutput(stdout: string): { noDir: boolean; complete: boolean; results: Map<number, PlaceResult> } {
  const results = new Map<number, PlaceResult>();
  let noDir = false;
  let complete = false;
  for (const line of stdout.split('\n')) {
    const m = /^@@HPCB-IN (\S+) (OK|MISSING|FAIL|NODIR|END)(?: (\S*))?$/.exec(line);
    if (!m) continue;
    if (m[2] === 'NODIR') noDir = true;
    else if (m[2] === 'END') complete = true;
    else {
      const index = Number(m[1]);
      if (m[2] === 'OK') results.set(index, { index, status: 'ok' });
      else if (m[2] === 'MISSING') results.set(index, { index, status: 'missing' });
      else results.set(index, { index, status: 'fail', message: Buffer.from(m[3] ?? '', 'base64').toString('utf8').trim() });
    }
  }
  return { noDir, complete, results };
}

/**
 * List what stage-out should bring back, in one exec.
 *
 * outputFiles: each pattern is expanded by bash itself (`nullglob globstar dotglob`, IFS empty so
 * a match is never split), never into `.hpcb/`. Every match is resolved with `realpath -e`; one
 * whose real path leaves the job directory (a symlink to /etc/passwd, a link to a parent) is
 * reported, not collected, and a link that stays inside is collected from its real path.
 * outputDirs: packed as a .tar.gz under .hpcb/outdirs (temp + rename, so a re-run after a crash
 * never finds half an archive); tar stores symlinks as links and does not follow them.
 * Logs: each task's stdout and stderr with their sizes; one of at most INLINE_LOG_BYTES comes
 * back whole instead (`-` for its size, then its bytes in base64), so a job that printed a few
 * lines needs no fetch after its listing.
 *
 * Lines (names base64):
 *   @@HPCB-OUT F <pattern idx> <name> <real path> <size>
 *   @@HPCB-OUT X <pattern idx> <name> <reason>
 *   @@HPCB-OUT NONE <pattern idx>
 *   @@HPCB-OUT D <dir idx> <archive path> <size>
 *   @@HPCB-OUT DX <dir idx> <reason> [<base64 stderr>]
 *   @@HPCB-OUT L <task> <stdout|stderr> <size>  or  L <task> <stdout|stderr> - <content>
 *   @@HPCB-OUT NODIR / @@HPCB-OUT END
 */
export interface ListItem {
  key: string;
  jobDir: string;
  patterns: readonly string[];
  dirs: readonly string[];
  taskCount: number;
}

/**
 * The largest log a listing carries inline. A multiple of 3, so the program can tell a log of
 * this size from a longer one by the length of its base64 alone (without a stat fork).
 */
export const INLINE_LOG_BYTES = 6144;

/** One exec lists several jobs; each job's part of the output is parsed by parseListOutputs. */
export function listOutputsProgram(items: readonly ListItem[]): string[] {
  const args = [OUTDIR_PACK_DIR, String(INLINE_LOG_BYTES)];
  for (const it of items) args.push(it.key, it.jobDir, String(it.taskCount), String(it.patterns.length), String(it.dirs.length), ...it.patterns, ...it.dirs);
  return programArgv('list-outputs', args);
}

/** Each job's lines of a listing of several (by key); a job the output never reached is absent. */
export function splitListOutputs(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  let key: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (key !== undefined) out.set(key, lines.join('\n'));
  };
  for (const line of stdout.split('\n')) {
    if (line.startsWith('@@HPCB-OUT JOB ')) {
      flush();
      key = line.slice(15);
      lines = [];
    } else lines.push(line);
  }
  flush();
  return out;
}

export type ListedOutput =
  | { type: 'file'; pattern: number; name: string; realPath: string; size: number }
  | { type: 'rejected'; pattern: number; name: string; reason: string }
  | { type: 'nomatch'; pattern: number }
  | { type: 'dir'; dir: number; archivePath: string; size: number }
  | { type: 'dirRejected'; dir: number; reason: string; detail: string }
  | { type: 'log'; task: number; which: 'stdout' | 'stderr'; size: number; content?: Buffer };

export function parseListOutputs(stdout: string): { noDir: boolean; complete: boolean; entries: ListedOutput[] } {
  const entries: ListedOutput[] = [];
  let noDir = false;
  let complete = false;
  const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('@@HPCB-OUT ')) continue;
    const f = line.slice(11).split(' ');
    switch (f[0]) {
      case 'NODIR':
        noDir = true;
        break;
      case 'END':
        complete = true;
        break;
      case 'F':
        entries.push({ type: 'file', pattern: Number(f[1]), name: unb64(f[2]), realPath: unb64(f[3]), size: Number(f[4]) });
        break;
      case 'X':
        entries.push({ type: 'rejected', pattern: Number(f[1]), name: unb64(f[2]), reason: f[3] ?? 'unknown' });
        break;
      case 'NONE':
        entries.push({ type: 'nomatch', pattern: Number(f[1]) });
        break;
      case 'D':
        entries.push({ type: 'dir', dir: Number(f[1]), archivePath: unb64(f[2]), size: Number(f[3]) });
        break;
      case 'DX':
        entries.push({ type: 'dirRejected', dir: Number(f[1]), reason: f[2] ?? 'unknown', detail: unb64(f[3]).trim() });
        break;
      case 'L':
        if (f[2] !== 'stdout' && f[2] !== 'stderr') break;
        if (f[3] === '-') {
          const content = Buffer.from(f[4] ?? '', 'base64');
          entries.push({ type: 'log', task: Number(f[1]), which: f[2], size: content.length, content });
        } else entries.push({ type: 'log', task: Number(f[1]), which: f[2], size: Number(f[3]) });
        break;
    }
  }
  return { noDir, complete, entries };
}

/** The name a packed output directory is listed under: `results/` -> `results.tar.gz`. */
export function packedDirName(dir: string): string {
  const clean = posix.normalize(dir).replace(/\/+$/, '');
  return `${clean === '.' ? 'job' : clean}.tar.gz`;
}
