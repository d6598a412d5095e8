# shellcheck shell=bash disable=SC2034  # constants are used by the scripts that source this file
# Shared constants and helpers for up.sh, down.sh and ctl.sh. Sourced, never executed.
#
# Layout of the lab (everything the lab owns lives in one of these places):
#   $LAB_DIR/             etc/ (lab-only configs), keys/, ssh/ (host keys, authorized keys,
#                         known_hosts), state/ (slurmctld + slurmd spool), mysql/ (MariaDB datadir),
#                         log/, env.json (what tests read), ssh_config
#   $RUN_DIR/             PID files (+ subdirs owned by munge/mysql, which write theirs after
#                         dropping root)
#   /etc/slurm/           slurm.conf, cgroup.conf, slurmdbd.conf, plugstack.conf.d/hpcb-pbs.conf:
#                         they must be at the default path, because Slurm client commands run over
#                         ssh by the test users find their config only there.
#   netns hpcb-login      the login node: an sshd at 10.99.0.2:2222 behind a veth pair.

LAB_DIR=${LAB_DIR:-/var/lib/hpcb-cluster}
RUN_DIR=/run/hpcb-cluster
LOCK_FILE=/run/hpcb-cluster.lock
SLURM_ETC=/etc/slurm

NETNS=hpcb-login
HOST_IF=veth-hpcb
NS_IF=eth0            # the login node's side of the pair, named like a real node's NIC
HOST_IP=10.99.0.1
LOGIN_IP=10.99.0.2
NET_PREFIX=24
SSH_PORT=2222
SSH_ALIAS=hpcb-login

HPC_USER=hpcuser
HPC_USER2=hpcuser2
# A third account with a key, in no Slurm association and mapped to no bridge user: the
# unrelated account that must not see either user's files.
HPC_OTHER=hpcother
CLUSTER_NAME=hpcb
ACCOUNT_NAME=hpcb
PARTITIONS_JSON='["debug","short","parked"]'

# MariaDB listens on loopback TCP on a non-default port and a lab-private socket, so it can never
# collide with a distribution MariaDB on 3306 / /run/mysqld (slurmdbd.conf has no socket option).
DB_PORT=3307
DB_SOCKET=$RUN_DIR/mysql/mysqld.sock

# Tunables (documented in up.sh).
NODE_CPUS=${NODE_CPUS:-8}
MIN_JOB_AGE=${MIN_JOB_AGE:-300}
DEF_MEM_PER_CPU=${DEF_MEM_PER_CPU:-1024}
SSH_MAX_SESSIONS=${SSH_MAX_SESSIONS:-10}
ENFORCE_PART_LIMITS=${ENFORCE_PART_LIMITS:-ALL}

KEYS_DIR=$LAB_DIR/keys
SSH_DIR=$LAB_DIR/ssh
LOG_DIR=$LAB_DIR/log
STATE_DIR=$LAB_DIR/state
DB_DIR=$LAB_DIR/mysql
ENV_JSON=$LAB_DIR/env.json
SSH_CLIENT_CONFIG=$LAB_DIR/ssh_config
SSHD_CONFIG=$LAB_DIR/etc/sshd_config

# daemon name -> "pidfile comm". comm is checked as well as liveness because /run is on the
# root disk here (not tmpfs): after a machine restart a stale PID file can name an unrelated
# process, and we must neither trust nor signal it.
declare -A DAEMON_PIDFILE=(
  [munged]=$RUN_DIR/munge/munged.pid
  [mariadbd]=$RUN_DIR/mysql/mariadbd.pid
  [slurmdbd]=$RUN_DIR/slurmdbd.pid
  [slurmctld]=$RUN_DIR/slurmctld.pid
  [slurmd]=$RUN_DIR/slurmd.pid
  [sshd]=$RUN_DIR/sshd.pid
  [slurmrestd]=$RUN_DIR/slurmrestd.pid
)

# Slurm's REST daemon on the login node, as the cluster user, authenticating its peers by their
# Unix uid (rest_auth/local): the socket a site would offer, reached by the bridge through a
# forwarded stream of its SSH connection. The directory is the user's alone.
RESTD_DIR=/run/hpcb-slurmrestd-$HPC_USER   # not under $RUN_DIR, which only root may enter
RESTD_SOCKET=$RESTD_DIR/slurmrestd.sock

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $(( t / 1000 )); }
T0=${T0:-$(now_ms)}
# seconds since the script started, one decimal
elapsed() { local ms=$(( $(now_ms) - T0 )); printf '%d.%d' $(( ms / 1000 )) $(( ms % 1000 / 100 )); }

log() { printf '[hpcb-cluster +%ss] %s\n' "$(elapsed)" "$*" >&2; }
die() { printf '[hpcb-cluster +%ss] ERROR: %s\n' "$(elapsed)" "$*" >&2; exit 1; }

require_root() {
  [[ $EUID -eq 0 ]] || die "must run as root (the lab's users, daemons and network namespace are root's to manage)"
}

# Serialise up/down/ctl. The lock fd (9) must not leak into daemons, or the lock would be held
# for as long as they live: spawn() closes it.
take_lock() {
  exec 9>"$LOCK_FILE"
  flock -w 180 9 || die "could not take $LOCK_FILE within 180 s (another up/down/ctl running?)"
}

# Run a daemon detached from our stdio and from every other descriptor we hold. Without the
# redirections a daemon that does not close inherited fds keeps the caller's pipes open, and a
# parent such as vitest's globalSetup would wait for EOF forever; an inherited lock (ours on fd 9,
# or a caller's `flock` around a test run) would be held for as long as the daemon lives.
spawn() {
  local logfile=$1; shift
  (
    local fd
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then exec {fd}>&-; fi
    done 2>/dev/null
    # Not exec: the command may be one of our shell functions (pbs_ns), which exec cannot run.
    "$@" </dev/null >>"$logfile" 2>&1
  )
}

# pid_of NAME -> prints the PID if the daemon is alive (a zombie counts as dead), else fails.
# Zombies: PID 1 here is not an init that reaps promptly, so a killed daemon lingers as state Z
# and `kill -0` keeps succeeding (research pitfall 5).
pid_of() {
  local name=$1 pidfile=${DAEMON_PIDFILE[$1]} pid
  [[ -s $pidfile ]] || return 1
  read -r pid <"$pidfile" 2>/dev/null || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_alive "$pid" "$name" || return 1
  printf '%s\n' "$pid"
}

# proc_alive PID [COMM]: alive, not a zombie, and (if given) running the expected program.
proc_alive() {
  local pid=$1 want=${2:-} stat comm state
  { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
  comm=${stat#*(}; comm=${comm%)*}
  state=${stat##*) }; state=${state%% *}
  [[ $state != Z && $state != X ]] || return 1
  [[ -z $want || $comm == "$want" ]]
}

is_up() { pid_of "$1" >/dev/null; }

# wait_pids_dead SECONDS PID...: poll every 0.1 s until the PIDs are dead; SIGKILL survivors after
# SECONDS, then give them 5 s more before giving up (a process stuck in D state cannot be killed).
wait_pids_dead() {
  local timeout=$1; shift
  local pids=("$@") deadline=$(( $(now_ms) + timeout * 1000 )) killed=0 p alive
  while :; do
    alive=()
    for p in "${pids[@]}"; do proc_alive "$p" && alive+=("$p"); done
    ((${#alive[@]} == 0)) && return 0
    if (( $(now_ms) >= deadline )); then
      if ((killed)); then log "still alive after SIGKILL: ${alive[*]}"; return 1; fi
      log "SIGKILL after ${timeout}s: ${alive[*]}"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      pids=("${alive[@]}"); deadline=$(( $(now_ms) + 5000 )); killed=1
      continue
    fi
    sleep 0.1
  done
}

stop_daemon() {
  local name=$1 pid
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    wait_pids_dead 10 "$pid" || die "could not stop $name (pid $pid)"
    log "stopped $name (pid $pid)"
  fi
  rm -f "${DAEMON_PIDFILE[$name]}"
}

# wait_until SECONDS DESCRIPTION CMD...: poll CMD every 0.1 s.
wait_until() {
  local secs=$1 what=$2; shift 2
  local deadline=$(( $(now_ms) + secs * 1000 ))
  until "$@" >/dev/null 2>&1; do
    (( $(now_ms) < deadline )) || die "timed out after ${secs}s waiting for $what"
    sleep 0.1
  done
}

# ensure_packages PKG...: install the missing ones (quietly, no recommends, no service starts).
ensure_packages() {
  # One dpkg-query for all (one per package costs ~40 ms each). Unknown packages print nothing.
  local missing=() p
  local -A state=()
  while read -r p st; do state[$p]=$st; done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null || true)
  for p in "$@"; do [[ ${state[$p]:-} == installed ]] || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  log "installing: ${missing[*]}"
  # postinst scripts would start munge, ssh and MariaDB on their default ports and paths; a
  # policy-rc.d that exits 101 forbids that. Keep one that exists, remove only the one we made.
  local made_policy=0 rc=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# hpcb-cluster: no service starts during package installation\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  # The man-db trigger rebuilds the whole manual page index after the install (seconds, for pages
  # no test reads). It runs only while this flag file exists (Debian's man-db/auto-update);
  # hide it for the duration and put it back.
  local mandb_flag=/var/lib/man-db/auto-update made_mandb=0
  if [[ -e $mandb_flag ]]; then mv "$mandb_flag" "$mandb_flag.hpcb-off"; made_mandb=1; fi
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no (or stale) package lists: update once, then install. No recommends:
  # the slurm-wlm metapackage would otherwise pull in ~50 packages (hdf5, rrd, influxdb...).
  # unsafe-io: no fsync per unpacked file; a crash mid-install is not a concern for a test box.
  { apt-get update -q && apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-unsafe-io "${missing[@]}"; } >"$LOG_DIR/apt.log" 2>&1 || rc=$?
  ((made_mandb)) && mv "$mandb_flag.hpcb-off" "$mandb_flag"
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || { tail -n 30 "$LOG_DIR/apt.log" >&2; die "apt-get failed (see $LOG_DIR/apt.log)"; }
  log "packages installed ($(elapsed)s)"
}

# write_if_changed FILE MODE [OWNER]: stdin -> FILE, replaced atomically; returns 0 if the content
# changed, 1 if not. Forks only when it writes: a fork+exec costs ~20 ms on this VM, and the
# already-up path runs this for every file.
write_if_changed() {
  local dst=$1 mode=$2 owner=${3:-root:root} new='' old='' tmp
  IFS= read -r -d '' new || true
  if [[ -f $dst ]]; then IFS= read -r -d '' old <"$dst" || true; fi
  [[ -f $dst && $new == "$old" ]] && return 1
  tmp=$dst.tmp.$$
  printf '%s' "$new" >"$tmp"
  chmod "$mode" "$tmp"; chown "$owner" "$tmp"
  mv -f "$tmp" "$dst"
  return 0
}

# --- network namespace -----------------------------------------------------------------------

netns_exists() { [[ -e /run/netns/$NETNS ]]; }

# Traffic to the lab subnet must never leave the machine. While the veth is down (link-down, or a
# test running `ip link set veth-hpcb down`) the kernel drops the connected route 10.99.0.0/24,
# and packets for 10.99.0.2 would follow the default route out of eth0 (observed: a connect there
# even completed, answered by something outside). A low-priority fallback route for the subnet
# prevents that:
#   hang: via lo, where non-local packets are dropped silently (ip_forward=0), so a cut link
#         behaves like a pulled cable: connects and in-flight traffic hang until timeouts fire.
#   fail: an unreachable route, used once the lab is down, so stray clients fail at once with
#         "No route to host" instead of hanging.
# It stays after down.sh on purpose; it only concerns the lab's own subnet.
GUARD_METRIC=4096
guard_route() {
  local net=${HOST_IP%.*}.0/$NET_PREFIX
  if [[ $1 == hang ]]; then ip route replace "$net" dev lo metric "$GUARD_METRIC"
  else ip route replace unreachable "$net" metric "$GUARD_METRIC"; fi
}
guard_route_is_hang() {
  [[ $(ip -4 route show "${HOST_IP%.*}.0/$NET_PREFIX" dev lo 2>/dev/null) == *"metric $GUARD_METRIC"* ]]
}

link_is_up() {
  [[ $(cat "/sys/class/net/$HOST_IF/operstate" 2>/dev/null) == up ]]
}

# A TCP connect to the login sshd that also reads the "SSH-" banner, so "accepting" means sshd
# really answers, not only that the kernel completed the handshake. $1=host|ns: from the host
# (crosses the veth, so fails while the link is cut) or from inside the namespace (does not).
ssh_port_answers() {
  local where=$1 probe="exec 3<>/dev/tcp/$LOGIN_IP/$SSH_PORT && head -c4 <&3"
  local out
  if [[ $where == ns ]]; then
    netns_exists || return 1
    out=$(timeout 2 ip netns exec "$NETNS" bash -c "$probe" 2>/dev/null) || return 1
  else
    out=$(timeout 2 bash -c "$probe" 2>/dev/null) || return 1
  fi
  [[ $out == SSH- ]]
}

# Every process living in the login node's namespace: the sshd listener, its per-connection
# processes and the users' commands. Killing these is "the login node's sshd goes away".
netns_pids() {
  netns_exists || return 0
  ip netns pids "$NETNS" 2>/dev/null || true
}

# --- slurm health ---------------------------------------------------------------------------

ctld_answers() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
dbd_answers() { timeout 5 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }
node_state() { sinfo -h -N -n "$(hostname -s)" -o %T 2>/dev/null | head -n1; }
# Node usable: idle/mixed/allocated/completing, without the '*' (not responding) suffix.
node_ready() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }

# --- the login node's sshd -----------------------------------------------------------------

# Stop the login node: SIGTERM every process in the namespace (listener, open sessions, the users'
# commands), SIGKILL after 10 s. Killing only the listener would leave established connections
# working, which is not what a test that "stops sshd" wants to exercise.
login_stop() {
  local pids
  mapfile -t pids < <(netns_pids)
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait_pids_dead 10 "${pids[@]}" || die "could not stop every process in netns $NETNS"
  fi
  rm -f "${DAEMON_PIDFILE[sshd]}"
}

# Start the listener if needed; return once it answers with its banner inside the namespace
# (checked from inside so that it also works while the link is cut).
login_start() {
  netns_exists || die "network namespace $NETNS does not exist: run up.sh"
  if ! is_up sshd; then
    /usr/sbin/sshd -t -f "$SSHD_CONFIG" || die "sshd config test failed ($SSHD_CONFIG)"
    install -d -m 0755 /run/sshd
    spawn "$LOG_DIR/sshd.out" ip netns exec "$NETNS" /usr/sbin/sshd -f "$SSHD_CONFIG" -E "$LOG_DIR/sshd.log"
  fi
  wait_until 10 "login sshd to answer inside $NETNS" ssh_port_answers ns
  # Everything in the namespace went with the login node; its REST daemon comes back with it.
  restd_start
}

restd_answers() { [[ -S $RESTD_SOCKET ]] && curl -sf --max-time 5 --unix-socket "$RESTD_SOCKET" http://x/slurm/v0.0.38/ping >/dev/null; }

# slurmrestd stays in the foreground, so it is not started through spawn (whose subshell would
# stay behind holding our stdout): a background subshell drops every descriptor we hold (the
# lock above all), writes its own PID and execs, so the PID is slurmrestd's (ip netns exec and
# setpriv exec too). Run as the user it serves, in the login node's namespace, where it reaches
# slurmctld as every client there does.
restd_start() {
  is_up slurmrestd && restd_answers && return 0
  stop_daemon slurmrestd
  install -d -m 0700 -o "$HPC_USER" -g "$HPC_USER" "$RESTD_DIR"
  rm -f "$RESTD_SOCKET"
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then exec {fd}>&-; fi
    done 2>/dev/null
    exec </dev/null >>"$LOG_DIR/slurmrestd.log" 2>&1
    echo "$BASHPID" >"${DAEMON_PIDFILE[slurmrestd]}"
    exec ip netns exec "$NETNS" setpriv --reuid="$HPC_USER" --regid="$HPC_USER" --init-groups \
      /usr/sbin/slurmrestd -a rest_auth/local "unix:$RESTD_SOCKET"
  ) &
  wait_until 15 "slurmrestd to answer on $RESTD_SOCKET" restd_answers
  log "slurmrestd up on $RESTD_SOCKET (netns $NETNS, as $HPC_USER)"
}
