# shellcheck shell=bash
# The relay, first half: the key-value requests jobs left in their directories, oldest first
# in each. A request is a directory .hpcb/kv/req/<id>/ (renamed into place whole) holding
# `op`, `key` and, for a set, `value`.
# Output, one line per request:  @@HPCB-KV <job index> <id> <op> b:<key base64> <value>
# <value> is `b:<base64>`, `-` (no value file) or `+<size>` (larger than <max value bytes>: not sent).
# Usage: kv-scan.sh <max value bytes> <max requests> <job dir>...
set -u
max=$1
left=$2
shift 2
i=0
for d in "$@"; do
  q="$d/.hpcb/kv/req"
  if [ -d "$q" ]; then
    for r in "$q"/*; do
      [ "$left" -gt 0 ] || exit 0
      [ -d "$r" ] || continue
      id=${r##*/}
      case $id in *[!0-9.]* | '' | .*) continue ;; esac
      op=$(head -c 16 -- "$r/op" 2>/dev/null) || continue
      case $op in get | set | delete | list) ;; *) op=unknown ;; esac
      key=b:$(head -c 4096 -- "$r/key" 2>/dev/null | base64 -w0) || continue
      val=-
      if [ -f "$r/value" ]; then
        size=$(stat -c %s -- "$r/value") || continue
        if [ "$size" -gt "$max" ]; then val="+$size"; else val=b:$(base64 -w0 <"$r/value") || continue; fi
      fi
      printf '@@HPCB-KV %s %s %s %s %s\n' "$i" "$id" "$op" "$key" "$val"
      left=$((left - 1))
    done
  fi
  i=$((i + 1))
done
exit 0
