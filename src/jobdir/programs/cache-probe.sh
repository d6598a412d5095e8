# shellcheck shell=bash
# What a cache file holds now (a cache entry the database forgot).
# Usage: cache-probe.sh <cache file>. Output: `@@HPCB-CACHE <sha256|ABSENT>`.
f=$1
if [ -f "$f" ] && [ ! -L "$f" ]; then
  printf "@@HPCB-CACHE %s\n" "$(sha256sum < "$f" | cut -c1-64)"
else
  printf "@@HPCB-CACHE ABSENT\n"
fi
