# shellcheck shell=bash
# List what stage-out should bring back, in one exec (see src/staging/remote.ts for the output).
# Usage: list-outputs.sh <job dir> <pack dir> <task count> <pattern count> <patterns...> <dirs...>
set -u
cd "$1" 2>/dev/null || { printf "@@HPCB-OUT NODIR\n"; exit 0; }
pack=$2; task_count=$3; npat=$4
shift 4
root=$(pwd -P)
shopt -s nullglob globstar dotglob
b64() { printf "%s" "$1" | base64 -w0; }
inside() { case "$1" in "$root"/.hpcb|"$root"/.hpcb/*) return 1 ;; "$root"/*) return 0 ;; *) return 1 ;; esac; }
files() {
  idx=$1; pat=$2; n=0
  local IFS=
  # shellcheck disable=SC2086 # the pattern is expanded on purpose (IFS empty: never split)
  for m in $pat; do
    [ -e "$m" ] || [ -L "$m" ] || continue
    m=${m#./}
    case "$m" in .hpcb|.hpcb/*) continue ;; esac
    n=$((n+1))
    if ! real=$(realpath -e -- "$m" 2>/dev/null); then printf "@@HPCB-OUT X %s %s dangling\n" "$idx" "$(b64 "$m")"; continue; fi
    if ! inside "$real"; then printf "@@HPCB-OUT X %s %s outside\n" "$idx" "$(b64 "$m")"; continue; fi
    if [ -d "$real" ]; then printf "@@HPCB-OUT X %s %s directory\n" "$idx" "$(b64 "$m")"; continue; fi
    if [ ! -f "$real" ]; then printf "@@HPCB-OUT X %s %s special\n" "$idx" "$(b64 "$m")"; continue; fi
    printf "@@HPCB-OUT F %s %s %s %s\n" "$idx" "$(b64 "$m")" "$(b64 "$real")" "$(stat -c %s -- "$real")"
  done
  [ "$n" -eq 0 ] && printf "@@HPCB-OUT NONE %s\n" "$idx"
  return 0
}
dir() {
  idx=$1; d=$2
  if ! real=$(realpath -e -- "$d" 2>/dev/null); then printf "@@HPCB-OUT DX %s missing\n" "$idx"; return; fi
  if ! inside "$real"; then printf "@@HPCB-OUT DX %s outside\n" "$idx"; return; fi
  if [ ! -d "$real" ]; then printf "@@HPCB-OUT DX %s notdir\n" "$idx"; return; fi
  mkdir -p "$pack"
  a=$pack/$idx.tar.gz
  if tar -C "$root" -czf "$a.tmp" -- "${real#"$root"/}" 2>"$a.err" && mv -f -- "$a.tmp" "$a"; then
    printf "@@HPCB-OUT D %s %s %s\n" "$idx" "$(b64 "$root/$a")" "$(stat -c %s -- "$a")"
  else
    rm -f -- "$a.tmp"
    printf "@@HPCB-OUT DX %s tar %s\n" "$idx" "$(head -c 2000 "$a.err" | base64 -w0)"
  fi
}
i=0
while [ "$i" -lt "$npat" ] && [ "$#" -gt 0 ]; do
  files "$i" "$1"
  shift
  i=$((i+1))
done
i=0
while [ "$#" -gt 0 ]; do
  dir "$i" "$1"
  shift
  i=$((i+1))
done
i=0; while [ "$i" -lt "$task_count" ]; do
  for w in stdout stderr; do
    f=.hpcb/task.$i.$w
    # An empty log (the usual case for stderr) needs no stat: a fork per file adds up by the hundred.
    if [ -s "$f" ]; then printf "@@HPCB-OUT L %s %s %s\n" "$i" "$w" "$(stat -c %s -- "$f")"
    elif [ -f "$f" ]; then printf "@@HPCB-OUT L %s %s 0\n" "$i" "$w"
    fi
  done
  i=$((i+1))
done
printf "@@HPCB-OUT END\n"
