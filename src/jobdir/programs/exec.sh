# shellcheck shell=bash
# Run a command in a running job, from the login node as the job's account (src/jobdir/inJob.ts).
# Usage: exec.sh <job dir> <work name> <limit seconds> <most bytes kept per stream> <launcher...>
# The launcher is the adapter's way into the job's allocation (Slurm: srun of a step) ending in
# exec-step.sh, which writes "<exit status> <timed out: 0|1>" to .hpcb/exec/<work>/rc.
# Prints @@HPCB-EXEC NODIR, or these lines:
#   @@HPCB-EXEC LAUNCHER <exit status of the launcher>
#   @@HPCB-EXEC STEP <exit status> <0|1>            when the command ran (exec-step's record)
#   @@HPCB-EXEC CUT                                 when this program had to end the launcher
#   @@HPCB-EXEC OUT <bytes written in all> <base64 of the first bytes>
#   @@HPCB-EXEC ERR <bytes written in all> <base64 of the first bytes>
#   @@HPCB-EXEC END
set -u
cd "$1" 2>/dev/null || { printf "@@HPCB-EXEC NODIR\n"; exit 0; }
work=.hpcb/exec/$2; limit=$3; cap=$4
shift 4
mkdir -p .hpcb/exec && mkdir -- "$work" || exit 1
trap 'rm -rf -- "$work"' EXIT
mkfifo -- "$work/o" "$work/e" || exit 1
# Keep the first bytes, then read the rest only to count it: the command never writes into a
# closed pipe (which would end it with SIGPIPE), and a chatty one cannot fill the disk.
keep() { head -c "$cap" >"$work/$1"; wc -c >"$work/$1.rest"; }
keep out <"$work/o" & k1=$!
keep err <"$work/e" & k2=$!
"$@" >"$work/o" 2>"$work/e" </dev/null & run=$!
# The step ends itself at the limit and the scheduler ends it soon after; this is for a launcher
# that does not come back, so that what it printed is still reported. Its output goes nowhere:
# an open copy of this session's stdout would keep the session open after the program ends.
(
  sleep $((limit + 10))
  if kill -0 "$run"; then : >"$work/cut"; kill -TERM "$run"; fi
  sleep 5
  kill -KILL "$run" "$k1" "$k2"
) >/dev/null 2>&1 & watch=$!
wait "$run"; rc=$?
wait "$k1" "$k2"
kill "$watch" 2>/dev/null
printf "@@HPCB-EXEC LAUNCHER %s\n" "$rc"
[ -f "$work/rc" ] && printf "@@HPCB-EXEC STEP %s\n" "$(cat -- "$work/rc")"
[ -f "$work/cut" ] && printf "@@HPCB-EXEC CUT\n"
for s in out err; do
  rest=$(cat -- "$work/$s.rest" 2>/dev/null) || rest=0
  printf "@@HPCB-EXEC %s %s " "${s^^}" "$(( $(stat -c %s -- "$work/$s") + ${rest:-0} ))"
  base64 -w0 -- "$work/$s"
  printf "\n"
done
printf "@@HPCB-EXEC END\n"
