# shellcheck shell=bash
# Verify an uploaded temp file, make it read-only (job directories hold hard links to it) and
# rename it to its final name; a mismatch removes it.
# Usage: cache-install.sh <temp file> <final name> <sha256>
# Output: `@@HPCB-VERIFY OK` or `@@HPCB-VERIFY BAD <sha256>`.
tmp=$1; final=$2; want=$3
got=$(sha256sum < "$tmp" | cut -c1-64)
if [ "$got" = "$want" ] && chmod 0400 "$tmp" && mv -f -- "$tmp" "$final"; then
  printf "@@HPCB-VERIFY OK\n"
else
  rm -f -- "$tmp"
  printf "@@HPCB-VERIFY BAD %s\n" "${got:-none}"
fi
