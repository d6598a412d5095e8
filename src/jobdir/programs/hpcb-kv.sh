#!/bin/bash
# shellcheck shell=bash
# hpcb-kv: a job's access to its owner's hpc-bridge key-value store. Staged into every job
# directory of a cluster with key-value access; tasks find it as "$HPCB_KV".
#
#   "$HPCB_KV" set KEY VALUE      store VALUE (or stdin, when VALUE is left out)
#   "$HPCB_KV" get KEY            print the value (exit 1 when there is no such key)
#   "$HPCB_KV" list [PREFIX]      print the keys starting with PREFIX, one a line
#   "$HPCB_KV" delete KEY         remove the key (exit 1 when there is no such key)
#
# Where the cluster reaches the daemon (HPCB_KV_URL is set) each call is one HTTP request,
# authenticated with the job's own credential, read from HPCB_KV_TOKEN_FILE and handed to curl
# through a file descriptor, so it never appears in a command line. Elsewhere the request is
# written as files under HPCB_KV_DIR/req/ and the answer awaited in HPCB_KV_DIR/res/: the
# daemon picks requests up on its polls (so an answer takes about one poll interval).
# Exit status: 0 done, 1 no such key, 2 usage, 3 refused or failed (the reason on stderr).
set -u

die() {
  printf 'hpcb-kv: %s\n' "$1" >&2
  exit "${2:-3}"
}
usage() { die 'usage: hpcb-kv set KEY [VALUE] | get KEY | list [PREFIX] | delete KEY' 2; }

[ $# -ge 1 ] || usage
op=$1
shift
case $op in
  get | delete) [ $# -eq 1 ] || usage ;;
  set) if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi ;;
  list) [ $# -le 1 ] || usage ;;
  *) usage ;;
esac
key=${1-}
# The daemon checks keys fully; this only keeps a key from changing the URL or the files.
case $key in *[!A-Za-z0-9_.:@+=,/-]*) die "key \"$key\" may contain only letters, digits, _ - . : @ + = , and /" 2 ;; esac
if [ "$op" != list ] && [ -z "$key" ]; then usage; fi

# The reason in an answer: the daemon's JSON error message (HTTP), or the relay's plain text.
reason() {
  local text
  text=$(head -c 2000 -- "$1")
  case $text in
    '{"error":'*) printf '%s' "$text" | sed -n 's/.*"message":"\(\([^"\\]\|\\.\)*\)".*/\1/p' | sed 's/\\"/"/g' ;;
    *) printf '%s' "$text" ;;
  esac
}

# Prints the answer's body for a 2xx status, else the reason; returns the exit status above.
finish() {
  local status=$1 body=$2
  case $status in
    2??) if [ "$op" != set ] && [ "$op" != delete ]; then cat -- "$body"; fi; return 0 ;;
    404) printf 'hpcb-kv: %s\n' "$(reason "$body")" >&2; return 1 ;;
    *) printf 'hpcb-kv: %s: %s\n' "$status" "$(reason "$body")" >&2; return 3 ;;
  esac
}

if [ -n "${HPCB_KV_URL:-}" ]; then
  [ -r "${HPCB_KV_TOKEN_FILE:-}" ] || die 'no job credential (HPCB_KV_TOKEN_FILE is not readable)'
  body=$(mktemp) || die 'cannot make a temporary file'
  trap 'rm -f -- "$body"' EXIT
  base=${HPCB_KV_URL%/}/api/v1/kv
  creds() { printf 'header = "Authorization: Bearer %s"\n' "$(<"$HPCB_KV_TOKEN_FILE")"; }
  call() {
    curl --silent --show-error --path-as-is --retry 8 --retry-connrefused --retry-max-time 300 \
      -K <(creds) -o "$body" -w '%{http_code}' "$@"
  }
  case $op in
    get) status=$(call "$base/$key") ;;
    delete) status=$(call -X DELETE "$base/$key") ;;
    list) status=$(call "$base?format=text&prefix=${key//+/%2B}") ;;
    set)
      if [ $# -eq 2 ]; then
        status=$(printf '%s' "$2" | call -X PUT -H 'content-type: application/octet-stream' --data-binary @- "$base/$key")
      else
        status=$(call -X PUT -H 'content-type: application/octet-stream' --data-binary @- "$base/$key")
      fi
      ;;
  esac
  if [ -z "$status" ] || [ "$status" = 000 ]; then die "cannot reach the daemon at $HPCB_KV_URL"; fi
  finish "$status" "$body"
  exit $?
fi

dir=${HPCB_KV_DIR:-}
if [ -z "$dir" ] || [ ! -d "$dir/req" ]; then die 'no key-value access in this job (HPCB_KV_URL and HPCB_KV_DIR are unset)'; fi
id="$(date +%s%N).$$.$RANDOM"
tmp="$dir/req/.tmp.$id"
mkdir -- "$tmp" || die "cannot write the request in $dir/req"
if ! { printf '%s' "$op" >"$tmp/op" && printf '%s' "$key" >"$tmp/key"; }; then die 'cannot write the request'; fi
if [ "$op" = set ]; then
  if [ $# -eq 2 ]; then printf '%s' "$2" >"$tmp/value"; else cat >"$tmp/value"; fi || die 'cannot write the value'
fi
mv -- "$tmp" "$dir/req/$id" || die 'cannot place the request'
deadline=$(($(date +%s) + ${HPCB_KV_TIMEOUT:-600}))
until [ -f "$dir/res/$id/status" ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then die "no answer from the daemon within ${HPCB_KV_TIMEOUT:-600} s (request $id stays queued)"; fi
  sleep "${HPCB_KV_POLL:-0.5}"
done
status=$(<"$dir/res/$id/status")
finish "$status" "$dir/res/$id/body"
rc=$?
rm -rf -- "${dir:?}/res/$id"
exit "$rc"
