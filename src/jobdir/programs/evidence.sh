# shellcheck shell=bash
# The job's own testimony, for many jobs in one exec (see src/jobdir/evidence.ts).
#
# Usage: evidence.sh <memory-kill ERE> then, per job: <key> <job dir> <task count>
# Output: `@@HPCB-EV <key> <field> <value>` lines; absent files are simply not reported, and
# `end` closes each job (its absence means the output was cut short).
#
# Files are read with bash builtins (`read -N`, no `$(head | tr)`): a sweep of hundreds of jobs
# ends together, and every fork costs 10-25 ms on a busy login node.
memre=$1
shift

# one FIELD FILE MAX: report at most MAX characters of FILE's first line (without the newline).
one() {
  local v=
  [ -f "$2" ] || return 0
  IFS= read -r -N "$3" v < "$2"
  v=${v%%$'\n'*}
  printf "@@HPCB-EV %s %s %s\n" "$key" "$1" "$v"
}

ev_one() {
  local key=$1 dir=$2 n=$3 i=0 f
  if ! cd "$dir" 2>/dev/null; then printf "@@HPCB-EV %s nodir 1\n" "$key"; return; fi
  one exit .hpcb/exit 64
  one started .hpcb/started 32
  one terminated .hpcb/terminated 64
  if [ -f .hpcb/native_id ]; then
    local id=
    IFS= read -r -N 128 id < .hpcb/native_id
    id=${id//[$'\n' ]/}
    printf "@@HPCB-EV %s native_id %s\n" "$key" "$id"
  fi
  one limit .hpcb/limit 32
  while [ "$i" -lt "$n" ]; do
    one "task.$i" ".hpcb/task.$i.exit" 32
    i=$((i+1))
  done
  # The grep (a fork) only when some stderr has anything in it: empty files cannot match, and a
  # trivial job leaves them all empty.
  for f in .hpcb/*.err .hpcb/*.stderr; do
    if [ -s "$f" ]; then
      grep -qsiE -- "$memre" .hpcb/*.err .hpcb/*.stderr 2>/dev/null && printf "@@HPCB-EV %s memkill 1\n" "$key"
      break
    fi
  done
  printf "@@HPCB-EV %s end 1\n" "$key"
}

while [ "$#" -ge 3 ]; do
  ev_one "$1" "$2" "$3"
  shift 3
done
