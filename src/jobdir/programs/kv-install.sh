# shellcheck shell=bash
# Give one job its key-value access: the in-job helper and, when the cluster reaches the
# daemon, the job's credential. The credential arrives on stdin (never as an argument, which
# `ps` on the login node would show); an empty stdin writes no credential (the relay).
# Usage: kv-install.sh <job's .hpcb/kv directory> <helper text> <helper file name> <credential file name>
set -u
umask 077
mkdir -p -- "$1/req" "$1/res" || exit 1
printf '%s' "$2" >"$1/$3.tmp.$$" && chmod 700 "$1/$3.tmp.$$" && mv -f -- "$1/$3.tmp.$$" "$1/$3" || exit 1
cred=$(cat)
if [ -n "$cred" ]; then
  printf '%s\n' "$cred" >"$1/$4.tmp.$$" && mv -f -- "$1/$4.tmp.$$" "$1/$4" || exit 1
else
  rm -f -- "$1/$4"
fi
