# shellcheck shell=bash
# Read one file of a running job's directory, as the job's own account (see src/jobdir/inJob.ts).
# Usage: snapshot.sh <job dir> <path relative to it> <most bytes>
# Prints one line: @@HPCB-SNAP FILE <base64 bytes>, or @@HPCB-SNAP <NODIR|MISSING|OUTSIDE|
# DIRECTORY|SPECIAL|DENIED>, or @@HPCB-SNAP TOOLARGE <size>.
set -u
cd "$1" 2>/dev/null || { printf "@@HPCB-SNAP NODIR\n"; exit 0; }
root=$(pwd -P)
say() { printf "@@HPCB-SNAP %s\n" "$*"; exit 0; }
# Every symlink on the way is resolved first, so a link that points out of the directory (or
# into the bridge's own .hpcb) is refused, whatever the path looked like.
real=$(realpath -e -- "$2" 2>/dev/null) || say MISSING
case "$real" in "$root"/.hpcb|"$root"/.hpcb/*) say OUTSIDE ;; "$root"/*) ;; *) say OUTSIDE ;; esac
[ -d "$real" ] && say DIRECTORY
# Regular files only: a FIFO or a device would block or never end.
[ -f "$real" ] || say SPECIAL
[ -r "$real" ] || say DENIED
size=$(stat -c %s -- "$real") || say MISSING
[ "$size" -gt "$3" ] && say TOOLARGE "$size"
# The file may still be growing: at most the cap is read.
printf "@@HPCB-SNAP FILE "
head -c "$3" -- "$real" | base64 -w0
printf "\n"
