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

# line FILE MAX: REPLY is FILE's first line (at most MAX characters), or the status is non-zero
# when there is none yet: the runner writes each file in one write with a final newline, so an
# empty file or one without its newline is being written (or its writer died) and counts as absent.
line() {
  REPLY=
  [ -f "$1" ] || return 1
  IFS= read -r -N "$2" REPLY < "$1"
  [[ $REPLY == *$'\n'* ]] || return 1
  REPLY=${REPLY%%$'\n'*}
}

# one FIELD FILE MAX: report FILE's line as FIELD when it is written.
one() {
  line "$2" "$3" && printf "@@HPCB-EV %s %s %s\n" "$key" "$1" "$REPLY"
}

ev_one() {
  local key=$1 dir=$2 n=$3 i=0 f
  if ! cd "$dir" 2>/dev/null; then printf "@@HPCB-EV %s nodir 1\n" "$key"; return; fi
  one exit .hpcb/exit 64
  one started .hpcb/started 32
  one terminated .hpcb/terminated 64
  if line .hpcb/native_id 128; then printf "@@HPCB-EV %s native_id %s\n" "$key" "${REPLY// /}"; fi
  one limit .hpcb/limit 32
  one failure .hpcb/failure 64
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
