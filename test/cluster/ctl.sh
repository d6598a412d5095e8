#!/usr/bin/env bash
# Fault injection and status for the test cluster built by up.sh. Each action returns only once it
# has taken effect. Usage: ctl.sh <action>
#   sshd-stop           login node's sshd down, open sessions included (port refuses)
#   sshd-start          sshd started; returns when it answers with its banner
#   sshd-restart        stop + start (existing connections are dropped)
#   sshd-kill-sessions  drop every open ssh connection but keep the listener
#   link-down           cut the veth (host side down): connections to 10.99.0.2 hang, not refuse
#   link-up             restore it; returns when the login port answers from the host (or, if
#                       sshd is stopped, when the link is up)
#   slurmctld-stop      controller down: clients get "Unable to contact slurm controller"
#   slurmctld-start     controller up; returns when it answers and the node is usable
#   node-down           the compute node marked DOWN (scontrol): the controller ends its jobs as
#                       NODE_FAIL before scontrol returns (ReturnToService=2 may bring the node back
#                       by itself soon after, when slurmd registers again)
#   node-resume         the node back in service (ReturnToService=2 may already have done it when
#                       slurmd re-registered); returns when it is usable
#   pbs-server-stop     OpenPBS server down (qterm -t quick: running jobs go on under MoM)
#   pbs-server-start    OpenPBS server up; returns when it answers and its node is free
#   pbs-restart         every OpenPBS daemon stopped (MoM's SIGTERM kills the jobs it runs) and
#                       started again: the server requeues and reruns the rerunnable ones;
#                       returns when the node is free
#   pbs-rerun <id>      qrerun -W force <id> as the server's manager: the running job is killed and
#                       requeued, rerunnable or not (its run_count grows)
#   status              JSON of what is up (exit 0 even if something is down; see "healthy")
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=openpbs.sh
source "$HERE/openpbs.sh"

action=${1:-}
usage() { sed -n '2,/^set /{/^#/p}' "$0" >&2; exit 2; }
[[ -n $action ]] || usage

json_bool() { if "$@" >/dev/null 2>&1; then echo true; else echo false; fi; }

status() {
  local d daemons=() healthy=true v
  for d in munged mariadbd slurmdbd slurmctld slurmd sshd slurmrestd; do
    v=$(json_bool is_up "$d"); [[ $v == true ]] || healthy=false
    daemons+=("\"$d\": $v")
  done
  for d in "${PBS_DAEMONS[@]}"; do
    v=$(json_bool pbs_daemon_up "$d"); [[ $v == true ]] || healthy=false
    daemons+=("\"${d%.bin}\": $v")
  done
  local pbs=false
  pbs_all_up && pbs=$(json_bool pbs_ready)
  [[ $pbs == true ]] || healthy=false
  local netns link port_host port_ns ctld dbd node st
  netns=$(json_bool netns_exists); link=$(json_bool link_is_up)
  port_ns=$(json_bool ssh_port_answers ns)
  # Only probe across the veth when it is up: otherwise the connect just times out.
  if [[ $link == true ]]; then port_host=$(json_bool ssh_port_answers host); else port_host=false; fi
  ctld=false dbd=false node=false st=""
  if is_up slurmctld; then
    ctld=$(json_bool ctld_answers)
    [[ $ctld == true ]] && { st=$(node_state); node=$(json_bool node_ready); }
  fi
  is_up slurmdbd && dbd=$(json_bool dbd_answers)
  for v in "$netns" "$link" "$port_host" "$ctld" "$dbd" "$node"; do [[ $v == true ]] || healthy=false; done
  [[ -s $ENV_JSON ]] || healthy=false
  local IFS=,
  printf '{"healthy": %s, "daemons": {%s}, "netns": %s, "linkUp": %s, "sshFromHost": %s, "sshInNetns": %s, "slurmctldAnswers": %s, "slurmdbdAnswers": %s, "nodeReady": %s, "nodeState": "%s", "pbsReady": %s, "envJson": "%s"}\n' \
    "$healthy" "${daemons[*]}" "$netns" "$link" "$port_host" "$port_ns" "$ctld" "$dbd" "$node" "$st" "$pbs" "$ENV_JSON"
}

if [[ $action == status ]]; then status; exit 0; fi

require_root
take_lock

case $action in
  sshd-stop)
    login_stop
    ssh_port_answers ns && die "sshd still answers after stop"
    ;;
  sshd-start)
    login_start
    ;;
  sshd-restart)
    login_stop
    login_start
    ;;
  sshd-kill-sessions)
    listener=$(pid_of sshd) || die "sshd is not running"
    # The REST daemon is not a session: it stays.
    restd=$(pid_of slurmrestd || echo none)
    mapfile -t pids < <(netns_pids | grep -vx -e "$listener" -e "$restd" || true)
    if ((${#pids[@]})); then kill -TERM "${pids[@]}" 2>/dev/null || true; wait_pids_dead 10 "${pids[@]}"; fi
    ;;
  link-down)
    ip link set "$HOST_IF" down
    wait_until 5 "$HOST_IF to go down" bash -c "! grep -qx up /sys/class/net/$HOST_IF/operstate"
    ;;
  link-up)
    ip link set "$HOST_IF" up
    # The veth carrier and the connected route come back asynchronously; "done" means the login
    # node answers again from the host (or, if a test also stopped sshd, that the link is up).
    if is_up sshd; then
      wait_until 15 "login sshd to answer from the host after link-up" ssh_port_answers host
    else
      wait_until 5 "$HOST_IF to come up" link_is_up
    fi
    ;;
  slurmctld-stop)
    stop_daemon slurmctld
    ;;
  slurmctld-start)
    if ! is_up slurmctld; then spawn "$LOG_DIR/slurmctld.out" /usr/sbin/slurmctld; fi
    wait_until 30 "slurmctld (scontrol ping)" ctld_answers
    wait_until 30 "node ready" node_ready
    ;;
  node-down)
    scontrol update nodename="$(hostname -s)" state=down reason="hpcb ctl.sh node-down"
    ;;
  node-resume)
    # scontrol refuses "resume" for a node that is not down or drained.
    if [[ $(node_state) =~ ^(down|drain) ]]; then scontrol update nodename="$(hostname -s)" state=resume; fi
    wait_until 60 "node ready" node_ready
    ;;
  pbs-server-stop)
    pbs_server_stop
    pbs_server_answers && die "pbs_server still answers after stop"
    ;;
  pbs-server-start)
    pbs_server_start
    ;;
  pbs-restart)
    pbs_stop
    pbs_server_start
    ;;
  pbs-rerun)
    [[ ${2:-} =~ ^[0-9]+(\[[0-9]+\])?(\.[A-Za-z0-9.-]+)?$ ]] || die "pbs-rerun needs a PBS job id, got '${2:-}'"
    pbs_ns "$PBS_EXEC/bin/qrerun" -W force "$2" >>"$PBS_LOG" 2>&1 || die "qrerun -W force $2 failed (see $PBS_LOG)"
    ;;
  *)
    echo "unknown action: $action" >&2; usage ;;
esac
echo "ok $action"
