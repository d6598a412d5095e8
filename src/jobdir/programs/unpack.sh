# shellcheck shell=bash
# Many job directories at once: a gzip'd tar on stdin (built by src/jobdir/tar.ts: only
# directories and regular files, every name inside one job directory) unpacked under the jobs
# directory, in one command instead of an SFTP round trip per directory and file.
# Usage: unpack.sh <jobs dir>
# Output: `@@HPCB-UNPACK NODIR`, or `@@HPCB-UNPACK END` once tar succeeded.
set -u
# Owner-only, like every directory the bridge makes: no other account may list or enter them.
umask 077
if ! mkdir -p -- "$1" || ! cd -- "$1"; then printf "@@HPCB-UNPACK NODIR\n"; exit 0; fi
# GNU tar refuses members with '..', strips a leading '/', and replaces a link standing where a
# file goes instead of writing through it. Modes come from the archive (0700 scripts, 0600
# inputs), as the umask allows.
tar -x -z -f - --no-same-owner --no-overwrite-dir || exit $?
printf "@@HPCB-UNPACK END\n"
