# shellcheck shell=bash
# Many small files back in one stream: the absolute paths given (already resolved inside their
# job directories by list-outputs) as one gzip'd tar, base64 on one line, between markers.
# A file that vanished is left out (--ignore-failed-read); tar stores a link as a link, never
# what it points to.
# Usage: fetch.sh <absolute path>...
# Output: `@@HPCB-FETCH BEGIN`, the base64 line, `@@HPCB-FETCH END <tar status>`.
set -u
printf "@@HPCB-FETCH BEGIN\n"
tar -C / --format=pax --ignore-failed-read -c -z -f - -- "${@#/}" 2>/dev/null | base64 -w0
printf "\n@@HPCB-FETCH END %s\n" "${PIPESTATUS[0]}"
