# shellcheck shell=bash
# List what stage-out should bring back, for one job or several in one exec (see
# src/staging/remote.ts for the output).
# Usage: list-outputs.sh <pack dir> <largest log sent inline, bytes> then, per job:
#   <key> <job dir> <task count> <pattern count> <dir count> <patterns...> <dirs...>
# Each job's lines follow `@@HPCB-OUT JOB <key>` and end with its own END (or NODIR).
set -u
pack=$1
inline_max=$2
# The base64 length of inline_max bytes (a multiple of 3: no padding, so one byte more is longer).
inline_b64=$((inline_max * 4 / 3))
shift 2
root=
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
list_one() {
  local task_count=$2 npat=$3 ndir=$4 i=0 f w
  # -P: the physical path, so `inside` compares real paths (no `pwd -P` fork).
  cd -P -- "$1" 2>/dev/null || { printf "@@HPCB-OUT NODIR\n"; return 0; }
  root=$PWD
  shift 4
  while [ "$i" -lt "$npat" ]; do
    files "$i" "$1"
    shift
    i=$((i+1))
  done
  i=0
  while [ "$i" -lt "$ndir" ]; do
    dir "$i" "$1"
    shift
    i=$((i+1))
  done
  i=0; while [ "$i" -lt "$task_count" ]; do
    for w in stdout stderr; do
      f=.hpcb/task.$i.$w
      # An empty log (the usual case for stderr) needs no stat: a fork per file adds up by the hundred.
      # A small one comes back whole in this line (its size is then the content's): no fetch
      # program follows for a job that printed a few lines, which is a loop's next input.
      if [ -s "$f" ]; then
        small=$(head -c "$((inline_max + 1))" -- "$f" | base64 -w0)
        if [ "${#small}" -le "$inline_b64" ]; then printf "@@HPCB-OUT L %s %s - %s\n" "$i" "$w" "$small"
        else printf "@@HPCB-OUT L %s %s %s\n" "$i" "$w" "$(stat -c %s -- "$f")"
        fi
      elif [ -f "$f" ]; then printf "@@HPCB-OUT L %s %s 0\n" "$i" "$w"
      fi
    done
    i=$((i+1))
  done
  printf "@@HPCB-OUT END\n"
}

while [ "$#" -ge 5 ]; do
  printf "@@HPCB-OUT JOB %s\n" "$1"
  nargs=$(($4 + $5))
  list_one "$2" "$3" "$4" "$5" "${@:6:nargs}"
  shift $((5 + nargs))
done
