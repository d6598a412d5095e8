#!/usr/bin/env bash
# Start (installing if needed) the hpc-bridge test cluster: a real single-node Slurm 22.05 with
# munge, MariaDB + slurmdbd accounting, the Torque/PBS wrappers, a real OpenPBS server beside it
# (openpbs.sh; built from source once per machine), rootless podman with a locally built test
# image for the test accounts (podman.sh), and a key-only sshd "login node" in its own
# network namespace at 10.99.0.2:2222. Idempotent: when everything is already up it
# only runs a health check and exits. Writes $LAB_DIR/env.json, the one file tests read.
#
# Must run as root on Debian 12. Environment knobs:
#   NODE_CPUS (8)          CPUs advertised for the node (more than the real cores on purpose)
#   MIN_JOB_AGE (300)      seconds finished jobs stay visible to squeue/scontrol/qstat
#   DEF_MEM_PER_CPU (1024) MB booked per CPU for jobs without --mem
#   SSH_MAX_SESSIONS (10)  login sshd MaxSessions
#   ENFORCE_PART_LIMITS (ALL)  ALL: reject over-limit submissions; NO: accept and leave PENDING
#   PRIVATE_DATA ()        e.g. "jobs" to hide other users' jobs from squeue/sacct
#   CGROUPS (auto)         v1 | none; auto = v1 when the cgroup v1 memory controller is mounted
#   FORCE_RESTART (0)      1: restart every daemon even if healthy
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=openpbs.sh
source "$HERE/openpbs.sh"
# shellcheck source=podman.sh
source "$HERE/podman.sh"
# bash 5.2 would expand '&' in ${var//pat/repl} replacements; render() must insert values verbatim.
shopt -u patsub_replacement 2>/dev/null || true

# set -e stops at the first failing command; say which one, so a failed run in CI is diagnosable.
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
require_root
take_lock

PACKAGES=(munge slurmctld slurmd slurm-client slurm-wlm-torque slurmdbd mariadb-server mariadb-client
  openssh-server openssh-client openmpi-bin libopenmpi-dev iproute2 python3 util-linux
  slurmrestd curl  # the optional REST submit path (rest_auth/local on a Unix socket), its checks
  systemd      # systemd-analyze for test/unit/ops/systemd.test.ts
  shellcheck   # test/unit/house/shellcheck.test.ts checks every remote program and rendered script
  openssl      # test/unit/notifications/delivery.test.ts makes a self-signed certificate for an https receiver
  chromium)    # the dashboard's browser tests (test/dashboard/) drive Debian's Chromium headless

# ----------------------------------------------------------------------------------------------
install_packages() { ensure_packages "${PACKAGES[@]}"; }

# ----------------------------------------------------------------------------------------------
# mkd MODE OWNER DIR...: create missing directories only (each `install` is a fork, ~20 ms here).
mkd() {
  local mode=$1 owner=$2 d; shift 2
  for d in "$@"; do [[ -d $d ]] || install -d -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$d"; done
}

ensure_dirs() {
  mkd 0755 root:root "$LAB_DIR" "$LAB_DIR/etc" "$SSH_DIR" "$SSH_DIR/authorized_keys" "$STATE_DIR" \
    "$STATE_DIR/slurmd" "$SLURM_ETC" "$SLURM_ETC/plugstack.conf.d" "$RUN_DIR" /run/sshd
  mkd 0700 root:root "$KEYS_DIR"
  # munged refuses a log file whose directory (or any ancestor) is not owned by root or munge
  # ("Logfile is insecure"), so the log dir is root's and each daemon that logs after dropping
  # root gets its own file (or, for munged, its own directory).
  mkd 0755 root:root "$LOG_DIR"
  mkd 0700 munge:munge "$LOG_DIR/munge"
  mkd 0755 slurm:slurm "$LOG_DIR/slurm"
  own_log mysql "$LOG_DIR/mariadb.log"
  # Daemons that drop root before writing their PID file get a directory they own.
  mkd 0755 munge:munge "$RUN_DIR/munge" /run/munge
  mkd 0755 mysql:mysql "$RUN_DIR/mysql"
  mkd 0700 slurm:slurm "$STATE_DIR/slurmctld"
}

own_log() {
  local user=$1 f; shift
  for f in "$@"; do [[ -e $f ]] || { : >"$f"; chown "$user:$user" "$f"; }; done
}

# field FILE NAME N: field N (1-based) of the NAME line of a colon-separated passwd-style file.
field() {
  local line IFS=:
  local -a f
  while IFS= read -r line; do
    [[ $line == "$2:"* ]] || continue
    IFS=: read -r -a f <<<"$line"; printf '%s' "${f[$3-1]:-}"; return 0
  done <"$1"
  return 1
}

ensure_users() {
  local u home
  for u in "$HPC_USER" "$HPC_USER2" "$HPC_OTHER"; do
    field /etc/passwd "$u" 1 >/dev/null || useradd -m -U -s /bin/bash "$u"
    # useradd leaves "!" in shadow = locked; with UsePAM no sshd then refuses even a valid key
    # ("Permission denied (publickey)", research pitfall 2). "*" = no password, not locked.
    [[ $(field /etc/shadow "$u" 2) == '*' ]] || usermod -p '*' "$u"
    home=$(field /etc/passwd "$u" 6)
    # The home keeps useradd's mode (0755 on Debian); the scratch root is private to its user.
    mkd 0700 "$u:$u" "$home" "$home/hpcb"
  done
}

# Two ordinary local accounts that a root daemon maps bridge users to on a `direct` cluster
# (test/security/direct-accounts.test.ts): system accounts without a login shell or a home, so
# nothing but the daemon's switch of user ever runs as them.
DIRECT_USERS=(hpcb-alice hpcb-bob)
ensure_direct_users() {
  local u
  for u in "${DIRECT_USERS[@]}"; do
    field /etc/passwd "$u" 1 >/dev/null || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
  done
}

gen_key() { # gen_key FILE COMMENT [PASSPHRASE]
  [[ -s $1 && -s $1.pub ]] && return 0
  rm -f "$1" "$1.pub"
  ssh-keygen -q -t ed25519 -C "$2" -N "${3:-}" -f "$1"
}

# first2 FILE: "type base64" of a public key file, without the comment.
first2() { local a b _; read -r a b _ <"$1"; printf '%s %s' "$a" "$b"; }

ensure_keys() {
  gen_key "$SSH_DIR/ssh_host_ed25519_key" "hpcb-login host key"
  # Never served by any sshd: it exists to build a known_hosts that mismatches.
  gen_key "$SSH_DIR/wrong_host_ed25519_key" "hpcb wrong host key"
  gen_key "$KEYS_DIR/${HPC_USER}_ed25519" "$HPC_USER@hpcb-test"
  gen_key "$KEYS_DIR/${HPC_USER2}_ed25519" "$HPC_USER2@hpcb-test"
  gen_key "$KEYS_DIR/${HPC_OTHER}_ed25519" "$HPC_OTHER@hpcb-test"
  gen_key "$KEYS_DIR/wrong_ed25519" "not-authorized@hpcb-test"
  local passfile=$KEYS_DIR/${HPC_USER}_ed25519_enc.passphrase
  if [[ ! -s $passfile || ! -s $KEYS_DIR/${HPC_USER}_ed25519_enc ]]; then
    # Alphanumeric only, so it can go into JSON and shell strings without escaping.
    (umask 077; head -c 64 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 24 >"$passfile")
    rm -f "$KEYS_DIR/${HPC_USER}_ed25519_enc" "$KEYS_DIR/${HPC_USER}_ed25519_enc.pub"
    gen_key "$KEYS_DIR/${HPC_USER}_ed25519_enc" "$HPC_USER-encrypted@hpcb-test" "$(<"$passfile")"
    chmod 0600 "$passfile"
  fi
  read -r PASSPHRASE <"$passfile" || true   # written without a trailing newline

  write_if_changed "$SSH_DIR/authorized_keys/$HPC_USER" 0644 \
    <<<"$(first2 "$KEYS_DIR/${HPC_USER}_ed25519.pub") $HPC_USER@hpcb-test
$(first2 "$KEYS_DIR/${HPC_USER}_ed25519_enc.pub") $HPC_USER-encrypted@hpcb-test" || true
  write_if_changed "$SSH_DIR/authorized_keys/$HPC_USER2" 0644 \
    <<<"$(first2 "$KEYS_DIR/${HPC_USER2}_ed25519.pub") $HPC_USER2@hpcb-test" || true
  write_if_changed "$SSH_DIR/authorized_keys/$HPC_OTHER" 0644 \
    <<<"$(first2 "$KEYS_DIR/${HPC_OTHER}_ed25519.pub") $HPC_OTHER@hpcb-test" || true

  local hostid="[$LOGIN_IP]:$SSH_PORT"
  if write_if_changed "$SSH_DIR/known_hosts" 0644 <<<"$hostid $(first2 "$SSH_DIR/ssh_host_ed25519_key.pub")" \
     || [[ ! -s $SSH_DIR/known_hosts_hashed ]]; then
    cp "$SSH_DIR/known_hosts" "$SSH_DIR/known_hosts_hashed"
    ssh-keygen -q -H -f "$SSH_DIR/known_hosts_hashed" >/dev/null 2>&1
    rm -f "$SSH_DIR/known_hosts_hashed.old"
    chmod 0644 "$SSH_DIR/known_hosts_hashed"
  fi
  write_if_changed "$SSH_DIR/known_hosts_wrong" 0644 <<<"$hostid $(first2 "$SSH_DIR/wrong_host_ed25519_key.pub")" || true
}


# render TEMPLATE: substitute @VAR@ placeholders; result in $RENDERED (no subshell, see above).
render() {
  local src=$HERE/templates/$1 var
  IFS= read -r -d '' RENDERED <"$src" || true
  RENDERED=${RENDERED%$'\n'}   # the here-string that consumes it adds the newline back
  for var in "${RENDER_VARS[@]}"; do RENDERED=${RENDERED//@$var@/${!var}}; done
  [[ ! $RENDERED =~ @[A-Z_]+@ ]] || die "unrendered placeholder ${BASH_REMATCH[0]} in $src"
}

# ----------------------------------------------------------------------------------------------
# shellcheck disable=SC2034  # the settings are read by render() through ${!var}
compute_settings() {
  NODE_NAME=${HOSTNAME%%.*}   # = hostname -s, without a fork
  [[ $NODE_CPUS =~ ^[0-9]+$ && $MIN_JOB_AGE =~ ^[0-9]+$ && $SSH_MAX_SESSIONS =~ ^[0-9]+$ ]] \
    || die "NODE_CPUS, MIN_JOB_AGE and SSH_MAX_SESSIONS must be integers"
  # slurmd computes memory from the page count, which matches MemTotal; keep 1 GB for the OS.
  local key memkb=0 _
  while read -r key memkb _; do [[ $key == MemTotal: ]] && break; done </proc/meminfo
  REAL_MEMORY=$(( memkb / 1024 - 1024 ))

  CGROUPS=${CGROUPS:-auto}
  if [[ $CGROUPS == auto ]]; then
    if [[ -d /sys/fs/cgroup/memory && -d /sys/fs/cgroup/freezer ]]; then CGROUPS=v1; else CGROUPS=none; fi
  fi
  case $CGROUPS in
    v1) PROCTRACK=proctrack/cgroup; TASK_PLUGIN=task/cgroup
        JOBACCT_PARAMS='# Memory limits are enforced by the memory cgroup (cgroup.conf).' ;;
    none) PROCTRACK=proctrack/linuxproc; TASK_PLUGIN=task/none
        JOBACCT_PARAMS='JobAcctGatherParams=OverMemoryKill' ;;
    *) die "CGROUPS must be auto, v1 or none" ;;
  esac
  if [[ -n ${PRIVATE_DATA:-} ]]; then PRIVATE_DATA_LINE="PrivateData=$PRIVATE_DATA"
  else PRIVATE_DATA_LINE='# PrivateData unset: like most sites, every user sees every job in squeue.'; fi

  local f; SPANK_PBS=
  for f in /usr/lib/*/slurm-wlm/spank_pbs.so; do [[ -e $f ]] && SPANK_PBS=$f; done
  [[ -n $SPANK_PBS ]] || die "spank_pbs.so not found (slurm-wlm-basic-plugins)"

  local passfile=$LAB_DIR/etc/db.pass
  [[ -s $passfile ]] || (umask 077; head -c 64 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 24 >"$passfile")
  DB_PASS=$(<"$passfile")
  ALLOW_USERS="$HPC_USER $HPC_USER2 $HPC_OTHER"

  RENDER_VARS=(CLUSTER_NAME NODE_NAME HOST_IP LOGIN_IP STATE_DIR RUN_DIR LOG_DIR PROCTRACK TASK_PLUGIN
    JOBACCT_PARAMS DEF_MEM_PER_CPU ENFORCE_PART_LIMITS MIN_JOB_AGE PRIVATE_DATA_LINE NODE_CPUS
    REAL_MEMORY DB_PORT DB_PASS DB_DIR DB_SOCKET SPANK_PBS NETNS SSH_PORT SSH_DIR ALLOW_USERS
    SSH_MAX_SESSIONS SSH_CLIENT_CONFIG SSH_ALIAS HPC_USER HPC_USER2 KEYS_DIR)
}

# Which daemons must be restarted because their configuration changed.
write_configs() {
  CHANGED_SLURM=0 CHANGED_DBD=0 CHANGED_DB=0 CHANGED_SSHD=0
  render slurm.conf.in; write_if_changed "$SLURM_ETC/slurm.conf" 0644 <<<"$RENDERED" && CHANGED_SLURM=1
  render cgroup.conf.in; write_if_changed "$SLURM_ETC/cgroup.conf" 0644 <<<"$RENDERED" && CHANGED_SLURM=1
  [[ -s $SLURM_ETC/plugstack.conf ]] || echo "include $SLURM_ETC/plugstack.conf.d/*.conf" >"$SLURM_ETC/plugstack.conf"
  render pbs-plugstack.conf.in; write_if_changed "$SLURM_ETC/plugstack.conf.d/hpcb-pbs.conf" 0644 <<<"$RENDERED" && CHANGED_SLURM=1
  render slurmdbd.conf.in; write_if_changed "$SLURM_ETC/slurmdbd.conf" 0600 slurm:slurm <<<"$RENDERED" && CHANGED_DBD=1
  render mariadb.cnf.in; write_if_changed "$LAB_DIR/etc/mariadb.cnf" 0644 <<<"$RENDERED" && CHANGED_DB=1
  render sshd_config.in; write_if_changed "$SSHD_CONFIG" 0644 <<<"$RENDERED" && CHANGED_SSHD=1
  render ssh_config.in; write_if_changed "$SSH_CLIENT_CONFIG" 0644 <<<"$RENDERED" || true
  if [[ ${FORCE_RESTART:-0} == 1 ]]; then CHANGED_SLURM=1 CHANGED_DBD=1 CHANGED_DB=1 CHANGED_SSHD=1; fi
  return 0
}

# ----------------------------------------------------------------------------------------------
net_up() {
  netns_exists || ip netns add "$NETNS"
  if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    # A half-torn pair (host side gone) would leave the namespace side around under the same name.
    ip -n "$NETNS" link del "$NS_IF" 2>/dev/null || true
    ip link add "$HOST_IF" type veth peer name "$NS_IF" netns "$NETNS"
  fi
  ip -4 addr show dev "$HOST_IF" | grep -q "inet $HOST_IP/$NET_PREFIX" || ip addr add "$HOST_IP/$NET_PREFIX" dev "$HOST_IF"
  ip -n "$NETNS" -4 addr show dev "$NS_IF" | grep -q "inet $LOGIN_IP/$NET_PREFIX" \
    || ip -n "$NETNS" addr add "$LOGIN_IP/$NET_PREFIX" dev "$NS_IF"
  ip -n "$NETNS" link set lo up
  ip -n "$NETNS" link set "$NS_IF" up
  guard_route hang
  # Also repairs a link a test cut and never restored.
  ip link set "$HOST_IF" up
}

start_munge() {
  is_up munged && return 0
  if [[ ! -s /etc/munge/munge.key ]]; then
    install -d -m 0700 -o munge -g munge /etc/munge
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key >/dev/null
  fi
  # munged refuses to run as root; it daemonizes itself and writes the PID file as munge.
  spawn "$LOG_DIR/munged.out" runuser -u munge -- /usr/sbin/munged \
    --pid-file="${DAEMON_PIDFILE[munged]}" --log-file="$LOG_DIR/munge/munged.log"
  wait_until 10 munged bash -c 'munge -n </dev/null | unmunge'
  log "munged up"
}

db_sql() { mariadb --socket="$DB_SOCKET" -uroot -N -B -e "$1"; }

start_mariadb() {
  # slurmdbd reconnects to a restarted MariaDB by itself, but restarting it too costs 0.5 s and
  # removes any doubt.
  if ((CHANGED_DB)); then stop_daemon mariadbd; CHANGED_DBD=1; fi
  is_up mariadbd && return 0
  local fresh=0
  if [[ ! -d $DB_DIR/mysql ]]; then
    rm -rf "$DB_DIR"
    mariadb-install-db --defaults-file="$LAB_DIR/etc/mariadb.cnf" --auth-root-authentication-method=socket \
      --skip-test-db >"$LOG_DIR/mariadb-install.log" 2>&1 || { tail "$LOG_DIR/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
    fresh=1
  fi
  # mariadbd does not daemonize. `setsid -f` forks it into its own session and returns at once;
  # a plain `cmd &` would leave a bash subshell waiting on it, holding our lock fd forever.
  spawn "$LOG_DIR/mariadb.out" setsid -f /usr/sbin/mariadbd --defaults-file="$LAB_DIR/etc/mariadb.cnf"
  wait_until 30 "MariaDB" mariadb-admin --socket="$DB_SOCKET" -uroot ping
  wait_until 5 "MariaDB PID file" is_up mariadbd
  # mariadbd creates it 0660; `ctl.sh status` (which needs no root) must be able to read it.
  chmod 0644 "${DAEMON_PIDFILE[mariadbd]}"
  # Every start, not only the first: the password file may be new while the datadir is not.
  db_sql "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
          ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
          GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  if ((fresh)); then log "MariaDB up (new datadir)"; else log "MariaDB up"; fi
}

start_slurmdbd() {
  ((CHANGED_DBD)) && stop_daemon slurmdbd
  is_up slurmdbd || { spawn "$LOG_DIR/slurmdbd.out" /usr/sbin/slurmdbd; }
  wait_until 30 "slurmdbd (sacctmgr show cluster)" dbd_answers
  wait_until 5 "slurmdbd PID file" is_up slurmdbd
  log "slurmdbd up"
}

ensure_accounting() {
  local assoc; assoc=$(sacctmgr -n -P show assoc format=cluster,account,user 2>/dev/null || true)
  if ! grep -qx "$CLUSTER_NAME|$ACCOUNT_NAME|$HPC_USER" <<<"$assoc" \
     || ! grep -qx "$CLUSTER_NAME|$ACCOUNT_NAME|$HPC_USER2" <<<"$assoc"; then
    # "add" of something that exists fails with "Nothing new added": ignore, verify at the end.
    sacctmgr -i add cluster "$CLUSTER_NAME" >/dev/null 2>&1 || true
    sacctmgr -i add account "$ACCOUNT_NAME" Cluster="$CLUSTER_NAME" Description="hpc-bridge tests" \
      Organization=hpcb >/dev/null 2>&1 || true
    sacctmgr -i add user "$HPC_USER,$HPC_USER2" Account="$ACCOUNT_NAME" Cluster="$CLUSTER_NAME" \
      DefaultAccount="$ACCOUNT_NAME" >/dev/null 2>&1 || true
    assoc=$(sacctmgr -n -P show assoc format=cluster,account,user)
    grep -qx "$CLUSTER_NAME|$ACCOUNT_NAME|$HPC_USER2" <<<"$assoc" || die "sacctmgr could not create the associations"
    log "accounting: cluster $CLUSTER_NAME, account $ACCOUNT_NAME, users $HPC_USER $HPC_USER2"
  fi
}

start_slurm() {
  if ((CHANGED_SLURM)); then stop_daemon slurmd; stop_daemon slurmctld; fi
  if ! is_up slurmctld; then
    spawn "$LOG_DIR/slurmctld.out" /usr/sbin/slurmctld
    wait_until 30 "slurmctld (scontrol ping)" ctld_answers
    log "slurmctld up"
  fi
  is_up slurmd || spawn "$LOG_DIR/slurmd.out" /usr/sbin/slurmd
  local deadline=$(( $(now_ms) + 30000 )) st
  until node_ready; do
    st=$(node_state)
    # A node left drained (e.g. "Kill task failed" from an earlier abrupt stop) never returns on
    # its own, even with ReturnToService=2.
    if [[ $st == drain* ]]; then
      scontrol update nodename="$NODE_NAME" state=resume >/dev/null 2>&1 || true
    fi
    (( $(now_ms) < deadline )) || die "node $NODE_NAME not ready after 30 s (state: ${st:-?}); see $LOG_DIR/slurmd.log"
    sleep 0.1
  done
  log "slurmd up, node $NODE_NAME $(node_state)"
}

start_sshd() {
  ((CHANGED_SSHD)) && is_up sshd && login_stop
  login_start
  wait_until 10 "login sshd to answer from the host at $LOGIN_IP:$SSH_PORT" ssh_port_answers host
  log "login sshd up at $LOGIN_IP:$SSH_PORT (netns $NETNS)"
}

# One ssh round trip that proves the login node works end to end: key auth, host key pinning,
# Slurm controller, slurmdbd and the PBS server reachable from inside the namespace.
login_check() {
  ssh -F "$SSH_CLIENT_CONFIG" "$SSH_ALIAS" \
    "sinfo -h -o %a >/dev/null && sacct -n -X -S now -E now >/dev/null && $PBS_EXEC/bin/qstat -B >/dev/null" 2>&1
}

# Fingerprint of the scripts and templates that built this cluster. globalSetup.ts computes the
# same over its checkout and re-runs up.sh when they differ, so a healthy cluster built from older
# templates is reconfigured rather than silently reused. Byte order (LC_ALL=C) as in globalSetup.ts.
config_hash() {
  local files=("$HERE/lib.sh" "$HERE/up.sh" "$HERE/openpbs.sh" "$HERE/podman.sh") f
  local LC_ALL=C
  for f in "$HERE"/templates/*.in; do files+=("$f"); done
  cat "${files[@]}" | sha256sum | cut -c1-64
}

write_env_json() {
  CONFIG_HASH=$(config_hash)
  local k=$KEYS_DIR home1 home2 home3
  home1=$(field /etc/passwd "$HPC_USER" 6); home2=$(field /etc/passwd "$HPC_USER2" 6); home3=$(field /etc/passwd "$HPC_OTHER" 6)
  # Per-user scratch is one template (<homes>/{user}/hpcb): the homes must share a parent.
  [[ ${home1%/*} == "${home2%/*}" && ${home1%/*} == "${home3%/*}" ]] || die "the homes of $HPC_USER, $HPC_USER2 and $HPC_OTHER must share a parent directory"
  write_if_changed "$ENV_JSON" 0644 <<EOF || true
{
  "host": "$LOGIN_IP",
  "port": $SSH_PORT,
  "netns": "$NETNS",
  "hostIface": "$HOST_IF",
  "user": "$HPC_USER",
  "privateKey": "$k/${HPC_USER}_ed25519",
  "encryptedKey": "$k/${HPC_USER}_ed25519_enc",
  "passphrase": "$PASSPHRASE",
  "passphraseFile": "$k/${HPC_USER}_ed25519_enc.passphrase",
  "wrongKey": "$k/wrong_ed25519",
  "knownHosts": "$SSH_DIR/known_hosts",
  "knownHostsHashed": "$SSH_DIR/known_hosts_hashed",
  "wrongKnownHosts": "$SSH_DIR/known_hosts_wrong",
  "sshConfig": "$SSH_CLIENT_CONFIG",
  "sshAlias": "$SSH_ALIAS",
  "scratchRoot": "$home1/hpcb",
  "user2": {
    "user": "$HPC_USER2",
    "privateKey": "$k/${HPC_USER2}_ed25519",
    "scratchRoot": "$home2/hpcb",
    "sshAlias": "${SSH_ALIAS}2"
  },
  "other": {
    "user": "$HPC_OTHER",
    "privateKey": "$k/${HPC_OTHER}_ed25519",
    "scratchRoot": "$home3/hpcb"
  },
  "scratchTemplate": "${home1%/*}/{user}/hpcb",
  "slurmrestdSocket": "$RESTD_SOCKET",
  "ctl": "$HERE/ctl.sh",
  "partitions": $PARTITIONS_JSON,
  "nodeCpus": $NODE_CPUS,
  "accounting": "slurmdbd",
  "cgroups": "$CGROUPS",
  "minJobAge": $MIN_JOB_AGE,
  "maxSessions": $SSH_MAX_SESSIONS,
  "enforcePartLimits": "$ENFORCE_PART_LIMITS",
  "clusterName": "$CLUSTER_NAME",
  "account": "$ACCOUNT_NAME",
  "labDir": "$LAB_DIR",
  "configHash": "$CONFIG_HASH"
}
EOF
}

all_daemons_up() {
  local d
  for d in munged mariadbd slurmdbd slurmctld slurmd sshd slurmrestd; do is_up "$d" || return 1; done
}

# ----------------------------------------------------------------------------------------------
mkdir -p "$LOG_DIR"   # apt.log goes here, before the daemons' users (and ensure_dirs) exist
install_packages
ensure_dirs
compute_settings
ensure_users
ensure_direct_users
podman_up
log "podman part: ${PODMAN_MS} ms"
ensure_keys
write_configs
pbs_write_conf

# Fast path: nothing to (re)configure, every daemon alive, link up, and one ssh round trip works.
if all_daemons_up && netns_exists && link_is_up && guard_route_is_hang \
   && ((CHANGED_SLURM + CHANGED_DBD + CHANGED_DB + CHANGED_SSHD + CHANGED_PBS == 0)) \
   && node_ready && pbs_ready && restd_answers && out=$(login_check); then
  write_env_json
  echo "cluster up in $(elapsed)s (already running)"
  exit 0
fi

net_up
start_munge
start_mariadb
start_slurmdbd
ensure_accounting
start_slurm
pbs_up
start_sshd
if ! out=$(login_check); then
  printf '%s\n' "$out" >&2
  die "login node check over ssh failed (see $LOG_DIR/sshd.log)"
fi
write_env_json
echo "cluster up in $(elapsed)s"
