# shellcheck shell=bash
# Follows an account's event log from a byte offset (see src/jobdir/events.ts), for as long as
# its channel stays open.
#
# Usage: follow-events.sh <log> <offset> <inode or -> <check seconds> <checks per heartbeat>
# Output, one line each:
#   O <inode> <offset>         reading the file with this inode from this offset (at every open)
#   E <end offset> <record>    one whole record; <end offset> is just past its newline
#   H <offset>                 still alive, nothing new up to <offset>
#
# No inotify: shared file systems deliver none for appends made on other nodes. The file stays
# open and a read at its end is retried every <check seconds>, which is the same as polling its
# size but costs no process; the pause itself is a read with a timeout on a pipe nobody writes
# (no `sleep` fork). Only a heartbeat forks once, for stat, to notice truncation.
export LC_ALL=C
log=$1
offset=$2
want_inode=$3
check=$4
beat_every=$5

exec {nap}<> <(:)
pause() { read -r -t "$check" -u "$nap" _ || :; }

# Inode and size of the log in one stat; "- 0" while it does not exist.
probe() { stat -L -c '%i %s' -- "$log" 2>/dev/null || printf '%s\n' '- 0'; }

open_log() {
  local inode size waits=0
  # A log not yet begun (no job of the account has started) or rotated away with no new file
  # yet: keep the heartbeat going, or the daemon takes the silence for a dead channel and
  # reconnects every few heartbeats until some job writes.
  while [ ! -e "$log" ]; do
    waits=$((waits + 1))
    if [ "$waits" -ge "$beat_every" ]; then
      waits=0
      printf 'H %s\n' "$offset" || exit 0
    fi
    pause
  done
  exec {fd}<"$log" || return 1
  read -r inode size <<<"$(probe)"
  # Another file than the one the offset belongs to (rotated), or a shorter one (truncated):
  # every record in it is new, so read it from its start.
  if [ "$inode" != "$want_inode" ] && [ "$want_inode" != - ]; then offset=0; fi
  if [ "$size" -lt "$offset" ]; then offset=0; fi
  if [ "$offset" -gt 0 ]; then
    # dd shares the descriptor's file position with this shell: it seeks, reads nothing.
    dd iflag=skip_bytes skip="$offset" count=0 <&"$fd" 2>/dev/null || return 1
  fi
  want_inode=$inode
  printf 'O %s %s\n' "$inode" "$offset"
}

open_log || exit 1
pending=''
checks=0
while :; do
  if IFS= read -r -u "$fd" line; then
    line=$pending$line
    pending=''
    offset=$((offset + ${#line} + 1))
    printf 'E %s %s\n' "$offset" "$line" || exit 0
    continue
  fi
  # At the end: a record being written stays pending until its newline arrives.
  pending=$pending$line
  checks=$((checks + 1))
  if [ "$checks" -ge "$beat_every" ]; then
    checks=0
    printf 'H %s\n' "$offset" || exit 0
    read -r inode size <<<"$(probe)"
    if [ "$inode" != "$want_inode" ] || [ "$size" -lt "$((offset + ${#pending}))" ]; then
      # Rotated or truncated: whatever was pending belonged to the old file.
      exec {fd}<&-
      pending=''
      offset=0
      want_inode=-
      open_log || exit 1
    fi
  fi
  pause
done
