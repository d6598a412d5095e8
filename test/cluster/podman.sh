# shellcheck shell=bash
# Rootless podman for the container tasks of test/e2e/podman.test.ts: Debian's podman and uidmap,
# subordinate id ranges for the test accounts, and a small test image imported into each
# account's own storage (rootless podman keeps images per user, under the home). Sourced by up.sh,
# which holds the lab lock; `podman_up` is idempotent and, once done, costs one dpkg query and
# one small read per account.
#
# No registry is reachable, so the image is assembled here: bash, a few coreutils and the
# libraries they load, copied from this host (all from Debian packages), plus a marker file by
# which a test tells "inside the image" from "on the host". The archive is built reproducibly
# (fixed order, owners and times), so its hash is the image's identity: the stamp of each account
# records the hash it imported, and a changed recipe or upgraded host binary imports again.

# runc, not crun: this machine mounts a cgroup v2 hierarchy (with the hugetlb controller) beside
# the v1 controllers Slurm uses, and crun 1.8 refuses to start any container on such a "hybrid"
# host; runc runs there. podman_user_conf makes the test accounts' podman use it. catatonit is the
# small init the bridge runs in each container (`--init`), so that a SIGTERM reaches the task: the
# task's own shell as the container's PID 1 would ignore it.
PODMAN_PACKAGES=(podman uidmap runc catatonit)
# The name tests use (test/e2e/podman.test.ts keeps the same constant).
PODMAN_IMAGE=localhost/hpcb-test:1
PODMAN_USERS=("$HPC_USER" "$HPC_USER2")
PODMAN_DIR=$LAB_DIR/podman
PODMAN_MARKER='hpcb-test-image'
PODMAN_BINARIES=(bash sh cat ls head tail tr id sleep mkdir touch wc env rm cp mv stat sha256sum
  hostname grep)

# Sub-ids: `--userns=keep-id` maps the account's own uid into the container and needs a
# subordinate range besides it for the image's other ids. useradd normally assigns one; an account
# made before /etc/subuid existed has none.
podman_subids() {
  local u f last start end line
  for f in /etc/subuid /etc/subgid; do
    [[ -e $f ]] || : >"$f"
    for u in "${PODMAN_USERS[@]}"; do
      grep -q "^$u:" "$f" && continue
      last=100000
      while IFS=: read -r _ start end; do
        [[ $start =~ ^[0-9]+$ && $end =~ ^[0-9]+$ ]] || continue
        (( start + end > last )) && last=$(( start + end ))
      done <"$f"
      line="$u:$last:65536"
      printf '%s\n' "$line" >>"$f"
      log "podman: $f: $line"
    done
  done
}

# The image's files, one path per line relative to /, usr-merged like the host (Debian 12): what
# `ldd` names under /lib is taken from /usr/lib, and the top-level links are made in the tree.
podman_image_files() {
  local b p libs=()
  for b in "${PODMAN_BINARIES[@]}"; do
    p=/usr/bin/$b
    [[ -x $p ]] || die "podman image: /usr/bin/$b is missing on this host"
    printf '%s\n' "${p#/}"
    mapfile -t -O "${#libs[@]}" libs < <(ldd "$p" | grep -o '/[^ ]*')
  done
  for p in "${libs[@]}"; do
    case $p in /usr/*) ;; *) p=/usr$p ;; esac
    printf '%s\n' "${p#/}"
  done | sort -u
}

# Builds $PODMAN_DIR/image.tar (the root file system) and prints its sha256.
podman_build_tar() {
  local tree=$PODMAN_DIR/rootfs
  rm -rf "$tree"
  mkdir -p "$tree"
  # -h: each library lands under the name the loader looks for, with the content of its target.
  podman_image_files | tar -C / -chf - --files-from=- | tar -C "$tree" -xf -
  ln -s usr/bin "$tree/bin"; ln -s usr/bin "$tree/sbin"; ln -s usr/lib "$tree/lib"; ln -s usr/lib64 "$tree/lib64"
  mkdir -p "$tree/etc" "$tree/tmp" "$tree/proc" "$tree/sys" "$tree/dev" "$tree/root"
  chmod 1777 "$tree/tmp"
  printf 'root:x:0:0:root:/root:/bin/bash\n' >"$tree/etc/passwd"
  printf 'root:x:0:\n' >"$tree/etc/group"
  printf '%s\n' "$PODMAN_MARKER" >"$tree/etc/hpcb-image"
  tar -C "$tree" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$PODMAN_DIR/image.tar.new" .
  mv -f "$PODMAN_DIR/image.tar.new" "$PODMAN_DIR/image.tar"
  rm -rf "$tree"
  sha256sum "$PODMAN_DIR/image.tar" | cut -c1-64
}

# What decides whether the archive must be rebuilt: this recipe and the host files it copies
# (size and time of each binary and of the C library), without reading them.
podman_recipe_key() {
  { declare -f podman_image_files podman_build_tar; printf '%s\n' "${PODMAN_BINARIES[*]}" "$PODMAN_IMAGE" "$PODMAN_MARKER"
    local b; for b in "${PODMAN_BINARIES[@]}"; do printf '/usr/bin/%s\n' "$b"; done | xargs stat -L -c '%n %s %Y' -- /usr/lib/x86_64-linux-gnu/libc.so.6
  } | sha256sum | cut -c1-64
}

# as_user USER CMD...: run CMD as USER with a clean login-like environment, every descriptor above
# 2 closed (podman leaves a long-lived "pause" process behind that would otherwise hold the lab lock
# and the caller's pipes), and the same XDG_RUNTIME_DIR rule as the job runner (see
# adapters/common/runner.ts): /tmp/podman-run-<uid>, since no login session gives one here.
podman_as_user() {
  local u=$1 home uid; shift
  home=$(field /etc/passwd "$u" 6); uid=$(field /etc/passwd "$u" 3)
  (
    local fd
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then exec {fd}>&-; fi
    done 2>/dev/null
    # shellcheck disable=SC2016  # expanded by the inner bash, once it runs as the account
    runuser -u "$u" -- env -i HOME="$home" USER="$u" LOGNAME="$u" PATH=/usr/bin:/bin \
      XDG_RUNTIME_DIR="/tmp/podman-run-$uid" bash -c 'mkdir -p -m 0700 "$XDG_RUNTIME_DIR" && exec "$@"' podman-as-user "$@" </dev/null
  )
}

# The account's storage lists the image (read without starting podman: ~1 ms instead of ~150).
podman_user_has_image() {
  local home f
  home=$(field /etc/passwd "$1" 6)
  for f in "$home"/.local/share/containers/storage/*-images/images.json; do
    [[ -s $f ]] && grep -qF "\"$PODMAN_IMAGE\"" "$f" && return 0
  done
  return 1
}

# Stop the pause process that podman left for USER. It holds the account's user and mount
# namespaces, and every later podman of the account on this host joins them, jobs included. So
# never run podman as a test account on the login node: its namespace has no cgroup mounts
# (`ip netns exec` remounts /sys), and a pause process made there makes every job's container
# fail with "runc create failed: no cgroup mount found in mountinfo".
podman_stop_pause() {
  local uid pidf pid=''
  uid=$(field /etc/passwd "$1" 3)
  pidf=/tmp/podman-run-$uid/libpod/tmp/pause.pid
  [[ -s $pidf ]] || return 0
  read -r pid <"$pidf" || [[ -n $pid ]] || return 0   # podman writes it without a newline
  if [[ $pid =~ ^[0-9]+$ ]] && proc_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
}

# Each test account's own containers.conf: the OCI runtime (see PODMAN_PACKAGES). Everything a
# batch job needs beyond the site's choice of runtime is on the bridge's own command line.
podman_user_conf() {
  local u=$1 home
  home=$(field /etc/passwd "$u" 6)
  mkd 0700 "$u:$u" "$home/.config" "$home/.config/containers"
  write_if_changed "$home/.config/containers/containers.conf" 0644 "$u:$u" <<'EOF' || true
# Written by hpc-bridge's test/cluster/podman.sh.
[engine]
runtime = "runc"
EOF
}

podman_up() {
  local t0 key hash u stamp out
  t0=$(now_ms)
  ensure_packages "${PODMAN_PACKAGES[@]}"
  podman_subids
  mkd 0755 root:root "$PODMAN_DIR"
  key=$(podman_recipe_key)
  if [[ ! -s $PODMAN_DIR/image.tar || ! -s $PODMAN_DIR/recipe || $(<"$PODMAN_DIR/recipe") != "$key" ]]; then
    hash=$(podman_build_tar)
    printf '%s\n' "$hash" >"$PODMAN_DIR/image.sha256"
    printf '%s\n' "$key" >"$PODMAN_DIR/recipe"
    log "podman: test image archive built ($(du -h "$PODMAN_DIR/image.tar" | cut -f1))"
  fi
  hash=$(<"$PODMAN_DIR/image.sha256")
  chmod 0644 "$PODMAN_DIR/image.tar"
  for u in "${PODMAN_USERS[@]}"; do
    podman_user_conf "$u"
    stamp=$PODMAN_DIR/$u.stamp
    if [[ -s $stamp && $(<"$stamp") == "$hash" ]] && podman_user_has_image "$u"; then continue; fi
    if ! out=$(podman_as_user "$u" podman --events-backend=file import --quiet "$PODMAN_DIR/image.tar" "$PODMAN_IMAGE" 2>&1); then
      podman_stop_pause "$u"
      printf '%s\n' "$out" >&2
      die "podman: import of the test image as $u failed"
    fi
    podman_stop_pause "$u"
    printf '%s\n' "$hash" >"$stamp"
    log "podman: $PODMAN_IMAGE imported for $u"
  done
  # shellcheck disable=SC2034  # up.sh logs it
  PODMAN_MS=$(( $(now_ms) - t0 ))
}
