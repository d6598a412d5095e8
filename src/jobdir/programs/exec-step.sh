# shellcheck shell=bash
# The command of an exec where the job runs (inside its allocation), ended at its time limit.
# Usage: exec-step.sh <limit seconds> <record file> <argv...>
# Writes "<exit status> <timed out: 0|1>" to the record file and exits 0: the record carries
# the status, so a launcher (srun) adds no message of its own about a non-zero one.
set -u
limit=$1; record=$2
shift 2
start=$SECONDS
# TERM at the limit, KILL 5 s later; timeout signals the command's whole process group. The
# command gets this program's stderr; bash's own notice of a killed child ("Killed ...") goes
# to /dev/null, since it is not the command's output.
exec 3>&2 2>/dev/null
timeout -k 5 "$limit" "$@" 2>&3 3>&-; rc=$?
cut=0
# 124 (TERM) or 137 (KILL) once the limit has passed is timeout's doing; a command that exits
# 124 by itself before it has not been cut off.
if { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; } && [ $((SECONDS - start)) -ge "$limit" ]; then cut=1; fi
printf "%s %s\n" "$rc" "$cut" >"$record.tmp" && mv -f -- "$record.tmp" "$record"
exit 0
