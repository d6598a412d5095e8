# shellcheck shell=bash
# The relay, second half: each answer becomes .hpcb/kv/res/<id>/ (`status`, `body`), renamed
# into place whole so the waiting helper never reads half of it, then the request is removed.
# Answers arrive on stdin, one a line:  <job index> <id> <status> <body base64 or ->
# Usage: kv-answer.sh <job dir>...
set -u
umask 077
dirs=("$@")
rc=0
while read -r i id status body; do
  case $id in *[!0-9.]* | '' | .*) continue ;; esac
  case $i in *[!0-9]* | '') continue ;; esac
  d=${dirs[$i]:-}
  [ -n "$d" ] || continue
  res="$d/.hpcb/kv/res"
  tmp="$res/.tmp.$id"
  rm -rf -- "$tmp"
  if mkdir -p -- "$tmp" && printf '%s\n' "$status" >"$tmp/status" &&
    { if [ "$body" = - ]; then : >"$tmp/body"; else printf '%s' "$body" | base64 -d >"$tmp/body"; fi; } &&
    rm -rf -- "${res:?}/$id" && mv -- "$tmp" "$res/$id"; then
    rm -rf -- "$d/.hpcb/kv/req/$id"
  else
    rc=1
  fi
done
exit "$rc"
