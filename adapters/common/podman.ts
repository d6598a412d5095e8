/**
 * Rootless podman as a task's container runtime: the command line of a task and the check the
 * runner makes before it. The task runs as the job's own Unix account, in an image from that
 * account's own podman storage, with the job directory mounted at the same path.
 *
 * Rootless podman expects a desktop login session; a batch job has none. What each part of the
 * rendered text does about that is said where it is rendered. Every string from the definition
 * reaches the script through the runner's quoting (src/domain/quote.ts).
 */
import { FILES } from '../../src/jobdir/layout.js';

/**
 * Exit status of a podman task that did not start because its pre-flight check failed. The same
 * number podman uses for "the container could not be created"; the reason is in
 * `.hpcb/failure`, so the bridge never reports it as a bare exit code.
 */
export const PODMAN_NOT_STARTED = 125;

/**
 * Words the runner writes to `.hpcb/failure` ("<word> <task index>") when a podman task cannot
 * start; src/engine/outcome.ts turns them into the job's reason.
 */
export const PODMAN_FAILURES = {
  /** The image is not in the account's storage on the node (and is never pulled). */
  imageMissing: 'image-missing',
  /** No podman on the node's PATH. */
  podmanMissing: 'podman-missing',
  /** The run-time directory podman needs belongs to another account. */
  runtimeDir: 'podman-rundir',
  /** podman itself failed when asked for the image (its message is in the task's stderr). */
  podmanError: 'podman-error',
} as const;

/**
 * Options before podman's subcommand, for `image exists` and `run` alike (the same state must be
 * read by both):
 * - `--cgroup-manager=cgroupfs`: the systemd manager (podman's default on systemd hosts) needs the
 *   user's systemd instance over D-Bus, which a batch job has not. With cgroupfs a rootless
 *   container makes no cgroup of its own, so it stays in the job's: the scheduler's memory limit,
 *   accounting and end-of-job kill cover it as they cover a plain task.
 * - `--events-backend=file`: the journald backend has no journal to write to from a batch job and
 *   warns on every command.
 * - `--log-level=error`: podman's warnings about the node (e.g. "/" not being a shared mount) are
 *   not the task's output; errors still reach the task's stderr.
 */
const GLOBAL = ['--log-level=error', '--cgroup-manager=cgroupfs', '--events-backend=file'];

export interface PodmanTask {
  image: string;
  cmd: string;
  jobDir: string;
  /** Absolute directory the task starts in. */
  workdir: string;
  /** Further `<host path>:<container path>` mounts (artifact mountpoints). */
  binds: readonly string[];
  /** Names (or `PREFIX*` patterns) of variables to carry from the job into the container. */
  env: readonly string[];
}

/**
 * The words after `podman <GLOBAL> run` for a task; the runner's hpcb_podman_run adds the rest.
 * - `--rm`: a batch job's container is never used again; kept, they would fill the account's storage.
 * - `--pull=never`: a compute node must not reach for a registry in the middle of a job; an image
 *   that is not there was already reported by the pre-flight check.
 * - `--init`: a small init (catatonit) is the container's PID 1 and passes signals on, so a
 *   SIGTERM (cancel, walltime) stops the task; a shell as PID 1 would ignore it.
 * - `--userns=keep-id`: the account's own uid inside the container, so the files the task writes
 *   in the job directory are the user's, as with a plain task.
 * - `--umask=0077`: the runner's umask (podman would start the task with 0022), so outputs are the
 *   job owner's alone, as with a plain task.
 * - `--network=host`: the node's network as it is (like apptainer), and no slirp4netns process.
 * - `--log-driver=passthrough`: the task's stdout and stderr go straight to the runner's files,
 *   with no copy in the account's storage.
 * - `--volume <job dir>:<job dir>` and `--workdir`: the job directory at the same path inside, so
 *   paths mean the same inside and out.
 * - `--env`: podman passes none of the job's environment by default; the bridge's HPCB_* variables,
 *   the task's and the job's own are carried in by name (their values never appear in the argv).
 * - `--` before the image: nothing after it is read as an option.
 */
export function podmanRunArgs(t: PodmanTask): string[] {
  const argv = ['--rm', '--pull=never', '--init', '--userns=keep-id', '--umask=0077', '--network=host', '--log-driver=passthrough'];
  argv.push('--volume', `${t.jobDir}:${t.jobDir}`, '--workdir', t.workdir);
  for (const b of t.binds) argv.push('--volume', b);
  for (const name of t.env) argv.push('--env', name);
  argv.push('--', t.image, 'bash', '-c', t.cmd);
  return argv;
}

/** The whole command a task's container runs with (without the per-run `--cidfile`). */
export function podmanArgv(t: PodmanTask): string[] {
  return ['podman', ...GLOBAL, 'run', ...podmanRunArgs(t)];
}

/**
 * Shell functions for the runner of a job with podman tasks (they rely on its hpcb_put,
 * hpcb_job_dir and hpcb_dir):
 *   hpcb_podman_ready <task> <image> || exit 125   before a task: podman, its state, the image
 *   hpcb_podman_run <task> <run words>...          runs it, recording the container's id
 *   hpcb_podman_stop_all                           removes every container still recorded
 *
 * XDG_RUNTIME_DIR: podman keeps its run-time state there (locks, the pid of the process that
 * holds the user namespace). A batch job inherits the submitting session's value (sbatch exports
 * the environment), which names a login session's directory that does not exist on the compute
 * node, or belongs to a session that ends under the job. A missing or foreign one is replaced by
 * /tmp/podman-run-<uid>, what podman itself takes when no session gives one, so jobs and the
 * user's own podman commands on the node agree. Not under $TMPDIR: sites point it at a per-job
 * directory, and podman's database refuses a run-time directory that moves between runs.
 *
 * The container's id file: where the account may create cgroups under the job's own (Slurm with
 * cgroup v1 hands the job's cgroup directories to the user), the OCI runtime puts the container
 * in a cgroup of its own below the job's. The memory limit still holds (it is hierarchical), but
 * the scheduler signals only the processes in the job's own cgroup: on a cancel or walltime kill
 * the runner removes the recorded containers itself (SIGTERM, SIGKILL 2 s later) before it exits,
 * so none outlives the job. For the same reason the scheduler does not see the kernel's
 * out-of-memory kill in the container's cgroup: a task killed by SIGKILL (status 137) while a
 * memory cgroup of the job hit its limit (memory.failcnt) gets an "oom-kill" line in its stderr,
 * which is how the bridge tells a memory kill (src/jobdir/layout.ts, MEMORY_KILL_PATTERNS).
 */
export function podmanFunctions(): string {
  const failure = `"$hpcb_job_dir/$hpcb_dir/${FILES.failure}"`;
  const podman = `podman ${GLOBAL.join(' ')}`;
  return `hpcb_podman_env() {
  if [ -z "\${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ] || [ ! -O "$XDG_RUNTIME_DIR" ]; then
    XDG_RUNTIME_DIR="/tmp/podman-run-$(id -u)"
    export XDG_RUNTIME_DIR
    mkdir -m 0700 -- "$XDG_RUNTIME_DIR" 2>/dev/null
  fi
  [ -O "$XDG_RUNTIME_DIR" ]
}

hpcb_podman_ready() {
  if ! hpcb_podman_env; then
    printf 'hpc-bridge: %s belongs to another account; podman cannot keep its state there\n' "$XDG_RUNTIME_DIR" >&2
    hpcb_put ${failure} "${PODMAN_FAILURES.runtimeDir} $1"
    return 1
  fi
  if ! command -v podman >/dev/null 2>&1; then
    printf 'hpc-bridge: podman is not installed on %s\n' "\${HOSTNAME:-this node}" >&2
    hpcb_put ${failure} "${PODMAN_FAILURES.podmanMissing} $1"
    return 1
  fi
  ${podman} image exists -- "$2"
  case $? in
    0) ;;
    1)
      printf 'hpc-bridge: container image %s is not in the podman storage of %s on %s (it is never pulled)\n' "$2" "$(id -un)" "\${HOSTNAME:-this node}" >&2
      hpcb_put ${failure} "${PODMAN_FAILURES.imageMissing} $1"
      return 1 ;;
    *)
      printf 'hpc-bridge: podman failed on %s before the task could start (its message is above)\n' "\${HOSTNAME:-this node}" >&2
      hpcb_put ${failure} "${PODMAN_FAILURES.podmanError} $1"
      return 1 ;;
  esac
}

hpcb_memcg_hit_limit() {
  local line path d n
  while IFS= read -r line; do
    case $line in *:memory:*) path=\${line#*:memory:} ;; *) continue ;; esac
    d=/sys/fs/cgroup/memory$path
    while [ -n "$path" ] && [ "$path" != / ]; do
      n=$(cat "$d/memory.failcnt" 2>/dev/null) || n=0
      [ "\${n:-0}" -gt 0 ] && return 0
      path=\${path%/*}
      d=/sys/fs/cgroup/memory$path
    done
  done </proc/self/cgroup
  return 1
}

hpcb_podman_run() {
  local cid="$hpcb_job_dir/$hpcb_dir/task.$1.cid" rc
  shift
  rm -f -- "$cid"
  ${podman} run --cidfile "$cid" "$@"
  rc=$?
  rm -f -- "$cid"
  if [ "$rc" -eq 137 ] && hpcb_memcg_hit_limit; then
    printf 'hpc-bridge: the container was killed with SIGKILL while the job was at its memory limit (oom-kill)\n' >&2
  fi
  return "$rc"
}

hpcb_podman_stop_all() {
  local f id
  for f in "$hpcb_job_dir/$hpcb_dir"/task.*.cid; do
    [ -f "$f" ] || continue
    id=''
    read -r id <"$f" || [ -n "$id" ] || continue
    hpcb_podman_env && ${podman} rm --force --time 2 -- "$id" >/dev/null 2>&1
    rm -f -- "$f"
  done
}`;
}
