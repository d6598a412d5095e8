#!/usr/bin/env bash
# shellcheck shell=bash
# A real OpenPBS server beside Slurm: built once per machine from the vendored source, installed
# under /opt/pbs, its daemons (server, scheduler, comm, mom, and PBS's own PostgreSQL) started in a
# private mount namespace. up.sh, down.sh and ctl.sh source this file (they hold the lab lock);
# run directly it takes the lock itself:
#   openpbs.sh up | down | server-stop | server-start | build | status
#
# Why a private mount namespace: the hostname resolves only to 127.0.0.1 on this machine kind and
# PBS's messaging layer refuses loopback addresses (the daemons die at start and the init script
# still exits 0). Inside the namespace a bind-mounted hosts file maps the hostname to the host side
# of the login node's veth pair, which both the daemons and the login node can reach. The login
# node's own namespace gets the same mapping through /etc/netns/<netns>/hosts, which `ip netns
# exec` bind-mounts over /etc/hosts for everything started there (its sshd and the users' shells).

if [[ -z ${LAB_DIR:-} || -z ${HOST_IP:-} ]]; then
  PBS_SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  # shellcheck source=lib.sh
  source "$PBS_SELF_DIR/lib.sh"
fi
PBS_SELF_DIR=${PBS_SELF_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

PBS_VERSION=23.06.06
PBS_TARBALL_NAME=openpbs-23.06.06-cd7ab5eda.tar.gz
PBS_TARBALL_SHA256=53bd96c1bca219742881b1a00f891b7b1e9ced1d9a597960082d99ee206ba3a3
PBS_CONFIGURE_FLAGS=(--prefix=/opt/pbs --with-python=/usr)
PBS_EXEC=/opt/pbs
PBS_HOME=/var/spool/pbs
PBS_CONF=/etc/pbs.conf
# The stamp names exactly what was built; another version, tarball or flag set rebuilds.
PBS_STAMP=$PBS_EXEC/.hpcb-build
PBS_BUILD_DIR=$LAB_DIR/openpbs-build
PBS_HOSTS=$LAB_DIR/etc/pbs-hosts
PBS_LOG=$LOG_DIR/openpbs.log
PBS_NETNS_HOSTS=/etc/netns/$NETNS/hosts

# Build dependencies, then what the daemons need at run time (Debian 12 names). No sendmail: job
# mail is dropped, which no test reads.
PBS_BUILD_PACKAGES=(gcc g++ make libtool autoconf automake perl swig libhwloc-dev libx11-dev
  libxt-dev libedit-dev libical-dev libncurses-dev postgresql-server-dev-all python3-dev tcl-dev
  tk-dev libexpat1-dev libssl-dev libxext-dev libxft-dev libcjson-dev)
# libmunge-dev: PBS loads "libmunge.so" by that name for munge authentication.
PBS_RUN_PACKAGES=(expat libedit2 postgresql postgresql-contrib python3 sudo tcl tk libical3 libcjson1 libmunge-dev)

pbs_stamp_text() {
  printf 'openpbs %s sha256 %s configure %s\n' "$PBS_VERSION" "$PBS_TARBALL_SHA256" "${PBS_CONFIGURE_FLAGS[*]}"
}
# `make install` leaves pbs_iff without its setuid bit (packages set it): without it a user's
# client cannot bind the reserved port the server's default authentication checks, and every
# command as hpcuser fails with "pbs_iff: cannot connect to host".
pbs_setuid() { chmod 4755 "$PBS_EXEC/sbin/pbs_iff" "$PBS_EXEC/sbin/pbs_rcp"; }

pbs_built() { [[ -x $PBS_EXEC/sbin/pbs_server.bin && -s $PBS_STAMP && $(<"$PBS_STAMP") == "$(pbs_stamp_text)" ]]; }

# The vendored tarball lives beside the repository (it is not part of it): OPENPBS_TARBALL, else
# the usual places relative to the checkout.
pbs_find_tarball() {
  local repo d
  repo=$(cd "$PBS_SELF_DIR/../.." && pwd)
  if [[ -n ${OPENPBS_TARBALL:-} ]]; then printf '%s\n' "$OPENPBS_TARBALL"; return; fi
  for d in "$repo/vendor" "$repo/../shared/vendor" "$repo/../../shared/vendor"; do
    [[ -f $d/$PBS_TARBALL_NAME ]] && { printf '%s\n' "$d/$PBS_TARBALL_NAME"; return; }
  done
  die "OpenPBS source $PBS_TARBALL_NAME not found; set OPENPBS_TARBALL to its path"
}

pbs_build() {
  pbs_built && return 0
  local tarball sum t0
  tarball=$(pbs_find_tarball)
  sum=$(sha256sum "$tarball" | cut -c1-64)
  [[ $sum == "$PBS_TARBALL_SHA256" ]] || die "sha256 of $tarball is $sum, expected $PBS_TARBALL_SHA256"
  ensure_packages "${PBS_BUILD_PACKAGES[@]}" "${PBS_RUN_PACKAGES[@]}"
  t0=$(now_ms)
  log "building OpenPBS $PBS_VERSION (a few minutes, once per machine; log: $PBS_LOG)"
  rm -rf "$PBS_BUILD_DIR"
  mkdir -p "$PBS_BUILD_DIR"
  tar -xzf "$tarball" -C "$PBS_BUILD_DIR" --strip-components=1
  # A plain system PATH keeps any other Python (pyenv, venvs) out of configure.
  if ! (cd "$PBS_BUILD_DIR" && export PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        && ./autogen.sh && ./configure "${PBS_CONFIGURE_FLAGS[@]}" \
        && make -j"$(nproc)" && make install) >"$PBS_LOG" 2>&1; then
    tail -n 30 "$PBS_LOG" >&2
    die "OpenPBS build failed (see $PBS_LOG; build tree kept in $PBS_BUILD_DIR)"
  fi
  # Script-mode postinstall: creates PBS_HOME, the init script and a first /etc/pbs.conf, which
  # pbs_write_conf replaces.
  "$PBS_EXEC/libexec/pbs_postinstall" >>"$PBS_LOG" 2>&1 || { tail -n 20 "$PBS_LOG" >&2; die "pbs_postinstall failed"; }
  rm -rf "$PBS_BUILD_DIR"
  pbs_setuid
  pbs_stamp_text >"$PBS_STAMP"
  log "OpenPBS $PBS_VERSION built and installed in $(( ($(now_ms) - t0) / 1000 ))s"
}

# --- configuration ----------------------------------------------------------------------------

# pbs_ns CMD...: run CMD where PBS's hostname resolves to the veth address (see the header).
# Admin commands (qmgr, qterm, pbsnodes) go through it too: from the root namespace the server's
# name resolves to 127.0.0.1, and root arriving from "localhost" is not the server host's root.
# shellcheck disable=SC2016  # expanded by the inner bash
PBS_NS_PROGRAM='mount --bind "$1" /etc/hosts && shift && exec "$@"'
pbs_ns() { unshare -m --propagation private bash -c "$PBS_NS_PROGRAM" pbs_ns "$PBS_HOSTS" "$@"; }

pbs_node() { printf '%s' "${HOSTNAME%%.*}"; }

# Read-only questions (ctl.sh status runs without root, and unshare needs root): a user's query
# arriving over 127.0.0.1 is answered all the same.
# At most 10 s each: a hung server must not hang a status check.
pbs_query() {
  if ((EUID == 0)); then timeout 10 unshare -m --propagation private bash -c "$PBS_NS_PROGRAM" pbs_ns "$PBS_HOSTS" "$@"
  else timeout 10 "$@"; fi
}

# Authentication is munge (the cluster's munged, whose socket the login node shares), not the
# default reserved-port method: every client connection then takes a port below 1024, and a
# bridge polling every second with qselect + qstat used them all up within minutes (TIME_WAIT):
# "pbs_iff: all reserved ports in use", and every PBS command failed.
#
# Sets CHANGED_PBS when the daemons must restart, CHANGED_SSHD when the login node must (its
# hosts file is bind-mounted when its sshd starts).
pbs_write_conf() {
  CHANGED_PBS=0
  local node; node=$(pbs_node)
  mkdir -p "$(dirname "$PBS_NETNS_HOSTS")" "$(dirname "$PBS_HOSTS")"
  local hosts="127.0.0.1 localhost
$HOST_IP $node
$LOGIN_IP $SSH_ALIAS"
  write_if_changed "$PBS_HOSTS" 0644 <<<"$hosts" && CHANGED_PBS=1
  # shellcheck disable=SC2034  # read by up.sh
  write_if_changed "$PBS_NETNS_HOSTS" 0644 <<<"$hosts" && CHANGED_SSHD=1
  write_if_changed "$PBS_CONF" 0644 <<<"PBS_SERVER=$node
PBS_START_SERVER=1
PBS_START_SCHED=1
PBS_START_COMM=1
PBS_START_MOM=1
PBS_EXEC=$PBS_EXEC
PBS_HOME=$PBS_HOME
PBS_AUTH_METHOD=munge
PBS_SUPPORTED_AUTH_METHODS=munge
PBS_CORE_LIMIT=unlimited
PBS_SCP=/usr/bin/scp" && CHANGED_PBS=1
  return 0
}

# MoM: job files live on the one shared filesystem, so output is copied locally, never over scp;
# memory is enforced (without $enforce a job over its mem request runs on).
pbs_write_mom_config() {
  [[ -d $PBS_HOME/mom_priv ]] || return 1
  # shellcheck disable=SC2016  # MoM's own $-directives
  write_if_changed "$PBS_HOME/mom_priv/config" 0644 <<<"\$clienthost $(pbs_node)
\$usecp *:/ /
\$enforce mem"
}

# --- daemons ----------------------------------------------------------------------------------

# name (as the kernel shows it) -> the lock file that holds its PID.
declare -A PBS_LOCKS=(
  [pbs_comm]=$PBS_HOME/server_priv/comm.lock
  [pbs_mom]=$PBS_HOME/mom_priv/mom.lock
  [pbs_sched]=$PBS_HOME/sched_priv/sched.lock
  [pbs_server.bin]=$PBS_HOME/server_priv/server.lock
)
PBS_DAEMONS=(pbs_comm pbs_mom pbs_sched pbs_server.bin)

pbs_pid() {
  local pid
  { read -r pid <"${PBS_LOCKS[$1]}"; } 2>/dev/null || return 1
  [[ $pid =~ ^[0-9]+$ ]] && proc_alive "$pid" "$1" && printf '%s\n' "$pid"
}
pbs_daemon_up() { pbs_pid "$1" >/dev/null; }
pbs_all_up() { local d; for d in "${PBS_DAEMONS[@]}"; do pbs_daemon_up "$d" || return 1; done; }

pbs_server_answers() { pbs_query "$PBS_EXEC/bin/qstat" -B >/dev/null 2>&1; }
# Trust pbsnodes, not exit codes: the init script exits 0 even when every daemon died at start.
pbs_node_free() {
  [[ $(pbs_query "$PBS_EXEC/bin/pbsnodes" "$(pbs_node)" 2>/dev/null) =~ state\ =\ (free|job-busy) ]]
}
pbs_ready() { pbs_all_up && pbs_server_answers && pbs_node_free; }

# Start whatever is not running. A lock file naming a dead (or zombie) process is removed first:
# the init script's own check reads a zombie as alive and would skip the daemon.
pbs_start() {
  local d
  for d in "${PBS_DAEMONS[@]}"; do pbs_daemon_up "$d" || rm -f "${PBS_LOCKS[$d]}"; done
  # A stale boot marker sends the init script's start to the background, returning before it is done.
  rm -f /var/tmp/pbs_boot_check
  spawn "$PBS_LOG" pbs_ns "$PBS_EXEC/libexec/pbs_init.d" start || die "PBS start failed (see $PBS_LOG)"
  wait_until 60 "pbs_server to answer" pbs_server_answers
}

# Stop the server only (fault tests). quick: running jobs stay with MoM and go on.
pbs_server_stop() {
  local pid
  pid=$(pbs_pid pbs_server.bin) || return 0
  pbs_ns "$PBS_EXEC/bin/qterm" -t quick >>"$PBS_LOG" 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  wait_pids_dead 30 "$pid" || die "pbs_server (pid $pid) did not stop"
}

pbs_server_start() {
  pbs_daemon_up pbs_server.bin || pbs_start
  wait_until 60 "PBS node $(pbs_node) to be free" pbs_node_free
}

# Everything down; PBS's own PostgreSQL last.
pbs_stop() {
  local d pid pids=()
  pbs_server_stop
  for d in "${PBS_DAEMONS[@]}"; do
    pid=$(pbs_pid "$d") || continue
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  ((${#pids[@]} == 0)) || wait_pids_dead 30 "${pids[@]}" || die "could not stop PBS daemons ${pids[*]}"
  [[ -x $PBS_EXEC/sbin/pbs_dataservice ]] && { pbs_ns "$PBS_EXEC/sbin/pbs_dataservice" stop >>"$PBS_LOG" 2>&1 || true; }
  log "OpenPBS stopped"
}

qmgr_c() { pbs_ns "$PBS_EXEC/bin/qmgr" -c "$1" >>"$PBS_LOG" 2>&1 || die "qmgr -c '$1' failed (see $PBS_LOG)"; }

# What the tests rely on, applied every start (each setting is idempotent).
pbs_configure_server() {
  # Clients reach the server from the login node (hpcuser@hpcb-login): same users everywhere.
  qmgr_c 'set server flatuid = True'
  # qstat -x (finished jobs) needs history. Ten minutes, like MinJobAge here, keeps the
  # bridge's `qselect -x` poll from growing with every test run.
  qmgr_c 'set server job_history_enable = True'
  qmgr_c 'set server job_history_duration = 00:10:00'
  # As many CPUs as the Slurm node advertises, so the suites written for it fit here too.
  qmgr_c "set node $(pbs_node) resources_available.ncpus = $NODE_CPUS"
  # A queue that takes jobs and never starts them, like Slurm's DOWN partition "parked".
  pbs_ns "$PBS_EXEC/bin/qstat" -Q parked >/dev/null 2>&1 || qmgr_c 'create queue parked queue_type = execution'
  qmgr_c 'set queue parked enabled = True'
  qmgr_c 'set queue parked started = False'
}

# Called by up.sh after pbs_write_conf and once the network is up (the daemons listen on the
# veth address).
pbs_up() {
  local t0; t0=$(now_ms)
  pbs_build
  ensure_packages "${PBS_RUN_PACKAGES[@]}"
  if ((CHANGED_PBS)) || [[ ${FORCE_RESTART:-0} == 1 ]]; then pbs_stop; fi
  if ! pbs_all_up; then
    pbs_start
    if pbs_write_mom_config; then pbs_daemon_up pbs_mom && kill -HUP "$(pbs_pid pbs_mom)"; fi
    pbs_configure_server
  fi
  wait_until 60 "PBS node $(pbs_node) to be free" pbs_node_free
  log "OpenPBS up ($(( $(now_ms) - t0 )) ms)"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -Eeuo pipefail
  trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
  require_root
  # The build touches only /opt/pbs and its build tree: it does not hold up the lab for minutes.
  [[ ${1:-} == build ]] || take_lock
  case ${1:-} in
    build) pbs_build ;;
    up)
      CHANGED_SSHD=0
      pbs_write_conf
      pbs_up
      # The login node reads its new hosts file only when its sshd starts.
      if ((CHANGED_SSHD)); then login_stop; login_start; fi
      ;;
    down) pbs_stop ;;
    server-stop) pbs_server_stop ;;
    server-start) pbs_server_start ;;
    status) if pbs_ready; then echo "OpenPBS ready"; else echo "OpenPBS not ready"; exit 1; fi ;;
    *) die "usage: openpbs.sh up|down|server-stop|server-start|build|status" ;;
  esac
fi
