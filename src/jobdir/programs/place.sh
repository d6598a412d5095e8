# shellcheck shell=bash
# Put each artifact into the job directory and unpack it there (see src/staging/remote.ts).
# Usage: place.sh <job dir> <stderr file> then, per artifact:
#   <index> <cache file> <size> <file name> <exec|plain> <kind> <unpacked name>
# Output: `@@HPCB-IN <index> OK|MISSING|FAIL <base64 stderr>`, `@@HPCB-IN - NODIR`, and
# `@@HPCB-IN - END` last.
set -u
cd "$1" 2>/dev/null || { printf "@@HPCB-IN - NODIR\n"; exit 0; }
errf=$2
shift 2
fail() { printf "@@HPCB-IN %s FAIL %s\n" "$1" "$( { printf "%s: " "$2"; head -c 2000 "$errf" 2>/dev/null; } | base64 -w0)"; }
place() {
  idx=$1; src=$2; size=$3; dest=$4; mode=$5; kind=$6; out=$7
  if [ ! -f "$src" ] || [ "$(stat -c %s -- "$src")" != "$size" ]; then printf "@@HPCB-IN %s MISSING\n" "$idx"; return; fi
  : > "$errf"
  rm -f -- "$dest" "$dest.hpcb-tmp"
  if [ "$mode" = exec ] || ! ln -- "$src" "$dest" 2>/dev/null; then
    { cp -- "$src" "$dest.hpcb-tmp" 2>>"$errf" && chmod 0600 "$dest.hpcb-tmp" && mv -f -- "$dest.hpcb-tmp" "$dest" 2>>"$errf"; } || { fail "$idx" copy; return; }
  fi
  case "$kind" in
    tar) tar -xf "$dest" 2>>"$errf" || { fail "$idx" "tar -xf"; return; } ;;
    tgz) tar -xzf "$dest" 2>>"$errf" || { fail "$idx" "tar -xzf"; return; } ;;
    tbz) tar -xjf "$dest" 2>>"$errf" || { fail "$idx" "tar -xjf"; return; } ;;
    gz) { gzip -dc -- "$dest" > "$out.hpcb-tmp" 2>>"$errf" && mv -f -- "$out.hpcb-tmp" "$out"; } || { rm -f -- "$out.hpcb-tmp"; fail "$idx" "gzip -dc"; return; } ;;
    bz2) { bzip2 -dc -- "$dest" > "$out.hpcb-tmp" 2>>"$errf" && mv -f -- "$out.hpcb-tmp" "$out"; } || { rm -f -- "$out.hpcb-tmp"; fail "$idx" "bzip2 -dc"; return; } ;;
    zip)
      if command -v unzip >/dev/null 2>&1; then unzip -o -q -- "$dest" 2>>"$errf" || { fail "$idx" unzip; return; }
      else python3 -m zipfile -e "$dest" . 2>>"$errf" || { fail "$idx" "python3 -m zipfile"; return; }; fi ;;
  esac
  # The exec bit goes on what the task runs: the decompressed file, or the artifact itself.
  if [ "$mode" = exec ]; then chmod 0700 -- "$out" 2>>"$errf" || { fail "$idx" chmod; return; }; fi
  printf "@@HPCB-IN %s OK\n" "$idx"
}
while [ "$#" -ge 7 ]; do
  place "$1" "$2" "$3" "$4" "$5" "$6" "$7"
  shift 7
done
printf "@@HPCB-IN - END\n"
