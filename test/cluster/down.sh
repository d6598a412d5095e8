#!/usr/bin/env bash
# Stop the test cluster built by up.sh: cancel the jobs left in the queue, stop every daemon through
# its PID file (SIGTERM, SIGKILL after 10 s), remove the login node's network namespace.
#   --purge  also drop the accounting database, the Slurm state (job ids restart at 1) and the logs.
#            Users, keys, host keys and known_hosts are kept, so a later up.sh hands tests the
#            same credentials.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=openpbs.sh
source "$HERE/openpbs.sh"

purge=0
for a in "$@"; do
  case $a in
    --purge) purge=1 ;;
    *) die "usage: down.sh [--purge]" ;;
  esac
done
require_root
take_lock

# Cancel first, so that no slurmstepd (which outlives slurmd) keeps running a job on a stopped
# cluster, and a later start does not resurrect a queue nobody expects.
if is_up slurmctld && ctld_answers; then
  mapfile -t jobs < <(squeue -h -o %A 2>/dev/null || true)
  if ((${#jobs[@]})); then
    log "cancelling ${#jobs[@]} job(s)"
    scancel "${jobs[@]}" 2>/dev/null || true
    # KillWait=5: give the steps time to end before slurmd goes away.
    deadline=$(( $(now_ms) + 8000 ))
    while [[ -n $(squeue -h -o %A 2>/dev/null) ]] && (( $(now_ms) < deadline )); do sleep 0.2; done
  fi
fi

# OpenPBS: its jobs go first, for the same reason; it must stop before the namespace goes, since
# its daemons listen on the veth address.
if pbs_all_up && pbs_server_answers; then
  mapfile -t pbs_jobs < <(pbs_ns "$PBS_EXEC/bin/qselect" 2>/dev/null || true)
  if ((${#pbs_jobs[@]})); then
    log "deleting ${#pbs_jobs[@]} OpenPBS job(s)"
    pbs_ns "$PBS_EXEC/bin/qdel" -W force "${pbs_jobs[@]}" >/dev/null 2>&1 || true
  fi
fi
pbs_stop

login_stop
stop_daemon slurmrestd
for d in slurmd slurmctld slurmdbd; do stop_daemon "$d"; done
# Dropping the accounting database keeps MariaDB's datadir, which saves the next up.sh the ~2 s of
# mariadb-install-db + first start. Without a running server the whole datadir goes below.
db_dropped=0
if ((purge)) && is_up mariadbd \
   && mariadb --socket="$DB_SOCKET" -uroot -e 'DROP DATABASE IF EXISTS slurm_acct_db' 2>/dev/null; then
  db_dropped=1
fi
for d in mariadbd munged; do stop_daemon "$d"; done

if netns_exists; then ip netns del "$NETNS"; fi
# Deleting the namespace destroys the pair; this only catches a half-made one.
ip link del "$HOST_IF" 2>/dev/null || true
# Keep lab-subnet traffic on this machine while the lab is down (see guard_route in lib.sh).
guard_route fail

if ((purge)); then
  rm -rf "$STATE_DIR" "$LOG_DIR" "$ENV_JSON"
  ((db_dropped)) || rm -rf "$DB_DIR"
  log "purged accounting DB, Slurm state and logs"
fi
echo "cluster down in $(elapsed)s"
