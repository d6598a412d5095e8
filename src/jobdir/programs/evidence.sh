# shellcheck shell=bash
# The job's own testimony, for many jobs in one exec (see src/jobdir/evidence.ts).
#
# Usage: evidence.sh <memory-kill ERE> then, per job: <key> <job dir> <task count>
# Output: `@@HPCB-EV <key> <field> <value>` lines; absent files are simply not reported, and
# `end` closes each job (its absence means the output was cut short).
memre=$1
shift

ev_one() {
  local key=$1 dir=$2 n=$3 i=0
  if ! cd "$dir" 2>/dev/null; then printf "@@HPCB-EV %s nodir 1\n" "$key"; return; fi
  [ -f .hpcb/exit ] && printf "@@HPCB-EV %s exit %s\n" "$key" "$(head -c 64 .hpcb/exit | tr -d "\n")"
  [ -f .hpcb/started ] && printf "@@HPCB-EV %s started %s\n" "$key" "$(head -c 32 .hpcb/started | tr -d "\n")"
  [ -f .hpcb/terminated ] && printf "@@HPCB-EV %s terminated %s\n" "$key" "$(head -c 64 .hpcb/terminated | tr -d "\n")"
  [ -f .hpcb/native_id ] && printf "@@HPCB-EV %s native_id %s\n" "$key" "$(head -c 128 .hpcb/native_id | tr -d "\n ")"
  [ -f .hpcb/limit ] && printf "@@HPCB-EV %s limit %s\n" "$key" "$(head -c 32 .hpcb/limit | tr -d "\n")"
  [ -f .hpcb/failure ] && printf "@@HPCB-EV %s failure %s\n" "$key" "$(head -c 64 .hpcb/failure | tr -d "\n")"
  while [ "$i" -lt "$n" ]; do
    [ -f ".hpcb/task.$i.exit" ] && printf "@@HPCB-EV %s task.%s %s\n" "$key" "$i" "$(head -c 32 ".hpcb/task.$i.exit" | tr -d "\n")"
    i=$((i+1))
  done
  if grep -qsiE -- "$memre" .hpcb/*.err .hpcb/*.stderr 2>/dev/null; then
    printf "@@HPCB-EV %s memkill 1\n" "$key"
  fi
  printf "@@HPCB-EV %s end 1\n" "$key"
}

while [ "$#" -ge 3 ]; do
  ev_one "$1" "$2" "$3"
  shift 3
done
