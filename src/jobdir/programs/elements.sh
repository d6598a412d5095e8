# shellcheck shell=bash
# For each array carrier, the id one of its elements recorded when it started (see
# src/jobdir/evidence.ts). Usage: elements.sh <key>=<carrier job dir>...
# Output: `@@HPCB-EL <key> <element id or nothing>` per carrier, then `@@HPCB-EL-END`.
for a in "$@"; do
  k=${a%%=*}; d=${a#*=}; id=
  for f in "$d"/.hpcb/[0-9]*/native_id; do
    [ -f "$f" ] || continue
    # Builtins only, and a line without its newline is still being written (src/jobdir/layout.ts).
    IFS= read -r -N 128 id < "$f"
    if [[ $id == *$'\n'* ]]; then id=${id%%$'\n'*} id=${id// /}; else id=; fi
    [ -n "$id" ] && break
  done
  printf "@@HPCB-EL %s %s\n" "$k" "$id"
done
echo @@HPCB-EL-END
