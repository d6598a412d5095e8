# shellcheck shell=bash
# Exactly-once submission of a batch of jobs (see src/jobdir/submit.ts for the protocol).
#
# Usage: submit.sh <parallel> <lock prefix> then, per job:
#   <key> <job dir> <record stem> <argc> <submit argv (argc words)>
# Output: one line per job: `@@HPCB-SUBMIT <key> <rc|NODIR|LOCKED|UNKNOWN> <stdout> <stderr>`,
# each stream `-` (empty), `r:<text>` (text plus a newline) or base64.
#
# Every step except the submit command, one flock per group and one fork per background group is
# a bash builtin: a fork costs as much as the submit command itself on a busy login node.
trap "" HUP PIPE
parallel=$1 lock_prefix=$2
shift 2
# Bytes of a stream sent back; keeps every result line one short write.
cap=2048
# One line of the characters scheduler ids are made of (`123`, `123;cluster`, `123.server`,
# an array `123[].server`); `]` first in the bracket is literal.
idre='^[][A-Za-z0-9_.:@;-]+$'

# enc FILE: sets REPLY to the encoded stream. `read -d ""` returns non-zero only at EOF, so a
# zero status means the file holds a NUL byte and takes the base64 path.
enc() {
  if [ ! -s "$1" ]; then REPLY=-; return; fi
  local c=
  if ! IFS= read -r -d "" c < "$1" && [[ $c == *$'\n' ]]; then
    c=${c%$'\n'}
    if [[ ${#c} -le $cap && $c =~ $idre ]]; then REPLY="r:$c"; return; fi
  fi
  REPLY=$(head -c "$cap" "$1" | base64 -w0)
}

# group_start LOCKFILE: take this group's lock (fd 8) for as long as the group runs.
group_start() {
  glock=$1
  exec 8>> "$glock" && flock -w 60 8 || glock=
}

submit_one() {
  local key=$1 dir=$2 rec=$3 rc='' owner='' claimed=1
  shift 3
  if ! cd "$dir" 2>/dev/null; then printf "@@HPCB-SUBMIT %s NODIR - -\n" "$key"; return; fi
  # A finished record: a re-run after a crash or a lost answer.
  [ -f ".hpcb/$rec.rc" ] && read -r rc < ".hpcb/$rec.rc"
  if [[ ! $rc =~ ^[0-9]+$ ]]; then
    [ -d .hpcb ] || mkdir -p .hpcb
    if [ -z "$glock" ]; then printf "@@HPCB-SUBMIT %s LOCKED - -\n" "$key"; return; fi
    set -C
    { printf "%s\n" "$glock" > ".hpcb/$rec.claim"; } 2>/dev/null && claimed=0
    set +C
    if [ "$claimed" = 0 ] && [ ! -e ".hpcb/$rec.rc" ]; then
      # Ours alone. fds 8 and 9 closed for the command: a job it starts (direct mode) must not hold a lock.
      if [ "$1" = bash ] && [ "$2" = -c ] && [ "$#" -ge 4 ]; then
        # A bash program (the direct adapter's launcher) runs in a subshell of this one: a fork,
        # not a new bash, per job. It gets its arguments as $1...; $0 and $$ are this program's.
        (
          prog=$3
          shift 4
          eval "$prog"
        ) 8>&- 9>&- > ".hpcb/$rec.out" 2> ".hpcb/$rec.err" < /dev/null
      else
        "$@" 8>&- 9>&- > ".hpcb/$rec.out" 2> ".hpcb/$rec.err" < /dev/null
      fi
      rc=$?
      printf "%s\n" "$rc" > ".hpcb/$rec.rc"
    elif [ "$claimed" = 0 ]; then
      rc=UNKNOWN
    else
      # Claimed by another program: wait until its group is over (finished or dead), then read.
      read -r owner < ".hpcb/$rec.claim"
      if [ -z "$owner" ]; then sleep 1; read -r owner < ".hpcb/$rec.claim"; fi
      if [ -n "$owner" ] && [ "$owner" != "$glock" ]; then
        exec 9>> "$owner"
        if ! flock -w 300 9; then exec 9>&-; printf "@@HPCB-SUBMIT %s LOCKED - -\n" "$key"; return; fi
        exec 9>&-
      fi
      rc=
      [ -f ".hpcb/$rec.rc" ] && read -r rc < ".hpcb/$rec.rc"
      [[ $rc =~ ^[0-9]+$ ]] || rc=UNKNOWN
    fi
  fi
  if [ "$rc" = UNKNOWN ]; then printf "@@HPCB-SUBMIT %s UNKNOWN - -\n" "$key"; return; fi
  local o
  enc ".hpcb/$rec.out"; o=$REPLY
  enc ".hpcb/$rec.err"
  printf "@@HPCB-SUBMIT %s %s %s %s\n" "$key" "$rc" "$o" "$REPLY"
}

# The jobs, in the caller's order.
keys=() dirs=() recs=() firsts=() counts=() words=()
while [ "$#" -ge 4 ]; do
  keys+=("$1") dirs+=("$2") recs+=("$3")
  n=$4
  shift 4
  firsts+=("${#words[@]}") counts+=("$n")
  words+=("${@:1:n}")
  shift "$n"
done

# run_group LOCKFILE FIRST END: jobs FIRST..END-1 under one lock.
run_group() {
  local i
  group_start "$1"
  for ((i = $2; i < $3; i++)); do
    submit_one "${keys[i]}" "${dirs[i]}" "${recs[i]}" "${words[@]:${firsts[i]}:${counts[i]}}"
  done
  [ -z "$glock" ] || rm -f -- "$glock"
}

total=${#keys[@]}
groups=$parallel
((groups > total)) && groups=$total
((groups < 1)) && groups=1
if ((groups == 1)); then
  run_group "${lock_prefix}0.lock" 0 "$total"
else
  # Contiguous slices, so the scheduler sees each group's jobs in the caller's order.
  for ((g = 0; g < groups; g++)); do
    run_group "${lock_prefix}$g.lock" $((g * total / groups)) $(((g + 1) * total / groups)) &
  done
  wait
fi
