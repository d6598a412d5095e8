# shellcheck shell=bash
# A resubmission: the previous attempt's testimony must not be read as this one's.
# Usage: clear-attempt.sh <job dir> <name or glob inside .hpcb/>...
cd "$1" || exit 1
shift
set -- "${@/#/.hpcb/}"
# shellcheck disable=SC2068 # the names are globs (task.*.exit) and contain no spaces
rm -rf -- $@
