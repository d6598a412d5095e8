/**
 * The remote shell programs of the data half, rendered like src/engine/remoteScripts.ts: one
 * bash program per step, every path and user string passed through shellQuote, one exec per
 * job (or per artifact) instead of one per file. Names travel back base64-encoded, because a
 * job may create files whose names contain spaces, quotes or newlines.
 */
import { posix } from 'node:path';
import { shellQuote } from '../domain/quote.js';
import { HPCB_DIR } from '../engine/remoteScripts.js';
import { decompressedName, type ArchiveKind } from './names.js';

/** `@@HPCB-CACHE <sha256|ABSENT>`: what a cache file holds now (a cache entry the DB forgot). */
export function renderCacheProbe(cacheFile: string): string {
  return [
    `f=${shellQuote(cacheFile)}`,
    'if [ -f "$f" ] && [ ! -L "$f" ]; then',
    '  printf "@@HPCB-CACHE %s\\n" "$(sha256sum < "$f" | cut -c1-64)"',
    'else',
    '  printf "@@HPCB-CACHE ABSENT\\n"',
    'fi',
  ].join('\n') + '\n';
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
export function renderCacheInstall(tmp: string, final: string, sha256: string): string {
  return [
    `tmp=${shellQuote(tmp)}; final=${shellQuote(final)}; want=${shellQuote(sha256)}`,
    'got=$(sha256sum < "$tmp" | cut -c1-64)',
    'if [ "$got" = "$want" ] && chmod 0444 "$tmp" && mv -f -- "$tmp" "$final"; then',
    '  printf "@@HPCB-VERIFY OK\\n"',
    'else',
    '  rm -f -- "$tmp"',
    '  printf "@@HPCB-VERIFY BAD %s\\n" "${got:-none}"',
    'fi',
  ].join('\n') + '\n';
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
export function renderPlaceProgram(jobDir: string, items: readonly PlaceItem[]): string {
  const lines = [
    'set -u',
    `cd ${shellQuote(jobDir)} 2>/dev/null || { printf "@@HPCB-IN - NODIR\\n"; exit 0; }`,
    `errf=${shellQuote(`${HPCB_DIR}/stagein.err`)}`,
    'fail() { printf "@@HPCB-IN %s FAIL %s\\n" "$1" "$( { printf "%s: " "$2"; head -c 2000 "$errf" 2>/dev/null; } | base64 -w0)"; }',
    'place() {',
    '  idx=$1; src=$2; size=$3; dest=$4; mode=$5; kind=$6; out=$7',
    '  if [ ! -f "$src" ] || [ "$(stat -c %s -- "$src")" != "$size" ]; then printf "@@HPCB-IN %s MISSING\\n" "$idx"; return; fi',
    '  : > "$errf"',
    '  rm -f -- "$dest" "$dest.hpcb-tmp"',
    '  if [ "$mode" = exec ] || ! ln -- "$src" "$dest" 2>/dev/null; then',
    '    cp -- "$src" "$dest.hpcb-tmp" 2>>"$errf" && chmod 0644 "$dest.hpcb-tmp" && mv -f -- "$dest.hpcb-tmp" "$dest" 2>>"$errf" || { fail "$idx" copy; return; }',
    '  fi',
    '  case "$kind" in',
    '    tar) tar -xf "$dest" 2>>"$errf" || { fail "$idx" "tar -xf"; return; } ;;',
    '    tgz) tar -xzf "$dest" 2>>"$errf" || { fail "$idx" "tar -xzf"; return; } ;;',
    '    tbz) tar -xjf "$dest" 2>>"$errf" || { fail "$idx" "tar -xjf"; return; } ;;',
    '    gz) gzip -dc -- "$dest" > "$out.hpcb-tmp" 2>>"$errf" && mv -f -- "$out.hpcb-tmp" "$out" || { rm -f -- "$out.hpcb-tmp"; fail "$idx" "gzip -dc"; return; } ;;',
    '    bz2) bzip2 -dc -- "$dest" > "$out.hpcb-tmp" 2>>"$errf" && mv -f -- "$out.hpcb-tmp" "$out" || { rm -f -- "$out.hpcb-tmp"; fail "$idx" "bzip2 -dc"; return; } ;;',
    '    zip)',
    '      if command -v unzip >/dev/null 2>&1; then unzip -o -q -- "$dest" 2>>"$errf" || { fail "$idx" unzip; return; }',
    '      else python3 -m zipfile -e "$dest" . 2>>"$errf" || { fail "$idx" "python3 -m zipfile"; return; }; fi ;;',
    '  esac',
    // The exec bit goes on what the task runs: the decompressed file, or the artifact itself.
    '  if [ "$mode" = exec ]; then chmod 0755 -- "$out" 2>>"$errf" || { fail "$idx" chmod; return; }; fi',
    '  printf "@@HPCB-IN %s OK\\n" "$idx"',
    '}',
  ];
  for (const it of items) {
    const single = it.kind === 'gz' || it.kind === 'bz2';
    const out = single ? decompressedName(it.fileName, it.kind) || `${it.fileName}.out` : it.fileName;
    lines.push(
      ['place', String(it.index), shellQuote(it.cacheFile), String(it.size), shellQuote(it.fileName), it.executable ? 'exec' : 'plain', it.kind, shellQuote(out)].join(' '),
    );
  }
  lines.push('printf "@@HPCB-IN - END\\n"');
  return lines.join('\n') + '\n';
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

/** Where packed output directories are written on the cluster (inside the bridge's own dir). */
export const OUTDIR_PACK_DIR = `${HPCB_DIR}/outdirs`;

/**
 * List what stage-out should bring back, in one exec.
 *
 * outputFiles: each pattern is expanded by bash itself (`nullglob globstar dotglob`, IFS empty so
 * a match is never split), never into `.hpcb/`. Every match is resolved with `realpath -e`; one
 * whose real path leaves the job directory (a symlink to /etc/passwd, a link to a parent) is
 * reported, not collected, and a link that stays inside is collected from its real path.
 * outputDirs: packed as a .tar.gz under .hpcb/outdirs (temp + rename, so a re-run after a crash
 * never finds half an archive); tar stores symlinks as links and does not follow them.
 * Logs: each task's stdout and stderr with their sizes.
 *
 * Lines (names base64):
 *   @@HPCB-OUT F <pattern idx> <name> <real path> <size>
 *   @@HPCB-OUT X <pattern idx> <name> <reason>
 *   @@HPCB-OUT NONE <pattern idx>
 *   @@HPCB-OUT D <dir idx> <archive path> <size>
 *   @@HPCB-OUT DX <dir idx> <reason> [<base64 stderr>]
 *   @@HPCB-OUT L <task> <stdout|stderr> <size>
 *   @@HPCB-OUT NODIR / @@HPCB-OUT END
 */
export function renderListOutputsProgram(jobDir: string, patterns: readonly string[], dirs: readonly string[], taskCount: number): string {
  const lines = [
    'set -u',
    `cd ${shellQuote(jobDir)} 2>/dev/null || { printf "@@HPCB-OUT NODIR\\n"; exit 0; }`,
    'root=$(pwd -P)',
    'shopt -s nullglob globstar dotglob',
    'b64() { printf "%s" "$1" | base64 -w0; }',
    'inside() { case "$1" in "$root"/.hpcb|"$root"/.hpcb/*) return 1 ;; "$root"/*) return 0 ;; *) return 1 ;; esac; }',
    'files() {',
    '  idx=$1; pat=$2; n=0',
    '  local IFS=',
    '  for m in $pat; do',
    '    [ -e "$m" ] || [ -L "$m" ] || continue',
    '    m=${m#./}',
    '    case "$m" in .hpcb|.hpcb/*) continue ;; esac',
    '    n=$((n+1))',
    '    if ! real=$(realpath -e -- "$m" 2>/dev/null); then printf "@@HPCB-OUT X %s %s dangling\\n" "$idx" "$(b64 "$m")"; continue; fi',
    '    if ! inside "$real"; then printf "@@HPCB-OUT X %s %s outside\\n" "$idx" "$(b64 "$m")"; continue; fi',
    '    if [ -d "$real" ]; then printf "@@HPCB-OUT X %s %s directory\\n" "$idx" "$(b64 "$m")"; continue; fi',
    '    if [ ! -f "$real" ]; then printf "@@HPCB-OUT X %s %s special\\n" "$idx" "$(b64 "$m")"; continue; fi',
    '    printf "@@HPCB-OUT F %s %s %s %s\\n" "$idx" "$(b64 "$m")" "$(b64 "$real")" "$(stat -c %s -- "$real")"',
    '  done',
    '  [ "$n" -eq 0 ] && printf "@@HPCB-OUT NONE %s\\n" "$idx"',
    '  return 0',
    '}',
    'dir() {',
    '  idx=$1; d=$2',
    '  if ! real=$(realpath -e -- "$d" 2>/dev/null); then printf "@@HPCB-OUT DX %s missing\\n" "$idx"; return; fi',
    '  if ! inside "$real"; then printf "@@HPCB-OUT DX %s outside\\n" "$idx"; return; fi',
    '  if [ ! -d "$real" ]; then printf "@@HPCB-OUT DX %s notdir\\n" "$idx"; return; fi',
    `  mkdir -p ${shellQuote(OUTDIR_PACK_DIR)}`,
    `  a=${shellQuote(OUTDIR_PACK_DIR)}/$idx.tar.gz`,
    '  if tar -C "$root" -czf "$a.tmp" -- "${real#"$root"/}" 2>"$a.err" && mv -f -- "$a.tmp" "$a"; then',
    '    printf "@@HPCB-OUT D %s %s %s\\n" "$idx" "$(b64 "$root/$a")" "$(stat -c %s -- "$a")"',
    '  else',
    '    rm -f -- "$a.tmp"',
    '    printf "@@HPCB-OUT DX %s tar %s\\n" "$idx" "$(head -c 2000 "$a.err" | base64 -w0)"',
    '  fi',
    '}',
  ];
  patterns.forEach((p, i) => lines.push(`files ${i} ${shellQuote(p)}`));
  dirs.forEach((d, i) => lines.push(`dir ${i} ${shellQuote(d)}`));
  lines.push(
    `i=0; while [ "$i" -lt ${taskCount} ]; do`,
    '  for w in stdout stderr; do',
    `    f=${shellQuote(HPCB_DIR)}/task.$i.$w`,
    '    [ -f "$f" ] && printf "@@HPCB-OUT L %s %s %s\\n" "$i" "$w" "$(stat -c %s -- "$f")"',
    '  done',
    '  i=$((i+1))',
    'done',
    'printf "@@HPCB-OUT END\\n"',
  );
  return lines.join('\n') + '\n';
}

export type ListedOutput =
  | { type: 'file'; pattern: number; name: string; realPath: string; size: number }
  | { type: 'rejected'; pattern: number; name: string; reason: string }
  | { type: 'nomatch'; pattern: number }
  | { type: 'dir'; dir: number; archivePath: string; size: number }
  | { type: 'dirRejected'; dir: number; reason: string; detail: string }
  | { type: 'log'; task: number; which: 'stdout' | 'stderr'; size: number };

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
        if (f[2] === 'stdout' || f[2] === 'stderr') entries.push({ type: 'log', task: Number(f[1]), which: f[2], size: Number(f[3]) });
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
