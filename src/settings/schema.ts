/**
 * Configuration schema: one YAML file for the daemon plus one file per cluster in
 * clusters.d/. Validated once at start-up (every problem listed with its file and key),
 * then deep-frozen. Key material is referenced by path, never inlined.
 */
import { validate as validCron } from 'node-cron';
import { z } from 'zod';
import { directOptions } from '../../adapters/direct/index.js';
import { pbsOptions } from '../../adapters/pbs/options.js';
import { slurmOptions } from '../../adapters/slurm/options.js';

/** Each adapter declares the options a cluster file's `adapter:` block may set for it. */
export const ADAPTER_OPTIONS = { slurm: slurmOptions, pbs: pbsOptions, direct: directOptions } as const;

const seconds = (def: number, min = 0.1, max = 86400 * 30) => z.number().min(min).max(max).default(def);

/** A Unix account name on a cluster. */
export const unixUser = () => z.string().regex(/^[a-z_][a-z0-9_.-]*\$?$/i, 'must be a valid user name');

export const SshSchema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: unixUser(),
  /** Private key file; omit to use ssh-agent. */
  privateKey: z.string().min(1).optional(),
  /** File holding the key's passphrase (never the passphrase itself in config). */
  passphraseFile: z.string().min(1).optional(),
  /** Use the agent at $SSH_AUTH_SOCK (or this socket path). */
  agent: z.union([z.boolean(), z.string().min(1)]).default(false),
  /** OpenSSH known_hosts file; hashed entries are understood. Unknown or changed keys are refused. */
  knownHosts: z.string().min(1),
  jump: z
    .strictObject({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).default(22),
      user: z.string().min(1),
      privateKey: z.string().min(1).optional(),
      passphraseFile: z.string().min(1).optional(),
      agent: z.union([z.boolean(), z.string().min(1)]).default(false),
      knownHosts: z.string().min(1).optional(),
    })
    .optional(),
  /** Run scheduler commands in a login shell (`bash -lc`): needed where sbatch is only on the login PATH. */
  loginShell: z.boolean().default(false),
  /** Concurrent channels on the one connection; keep below sshd's MaxSessions (default 10). */
  channelBudget: z.number().int().min(1).max(64).default(6),
  keepaliveSeconds: seconds(15, 0, 3600),
  /**
   * A connection with no command running for this long is closed, and opened again on the next
   * command: with one connection per (cluster, identity), idle users must not hold one each.
   */
  idleSeconds: seconds(300, 1, 86400),
});

/**
 * An SSH credential on a cluster: the Unix account and how to log in as it. Used for a user's
 * identity (daemon file, users.<name>.identities.<cluster>) and a cluster's monitor identity.
 */
const credential = {
  user: unixUser(),
  /** Private key file (relative paths are relative to the file that names it). */
  privateKey: z.string().min(1).optional(),
  /** File holding the key's passphrase. */
  passphraseFile: z.string().min(1).optional(),
  /** Use the agent at $SSH_AUTH_SOCK (true) or at this socket path. */
  agent: z.union([z.boolean(), z.string().min(1)]).optional(),
};

/** A user's identity on one cluster; only `user` applies to a local-transport cluster. */
export const IdentitySchema = z.strictObject({
  ...credential,
  /**
   * An OpenSSH user certificate beside the key. The SSH library the daemon uses cannot present
   * one, so setting it is a configuration problem (docs/DEPLOY.md, "Identities and keys").
   */
  certificate: z.string().min(1).optional(),
});
export type IdentityConfig = z.infer<typeof IdentitySchema>;

/** An identity that may see every user's jobs in the scheduler's queue (one poll for all). */
export const MonitorSchema = z.strictObject(credential);
export type MonitorConfig = z.infer<typeof MonitorSchema>;

export const ClusterSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'may contain only letters, digits, _ . - (at most 64)'),
    scheduler: z.enum(['slurm', 'pbs', 'direct']),
    /** PBS dialect; required for scheduler: pbs. */
    flavor: z.enum(['pbspro', 'torque']).optional(),
    /**
     * PBS only: submit a workflow factory as one job array (-J / -t) and same-cluster
     * dependencies as -W depend=afterok. Default on for pbspro; off for torque, where the
     * engine runs them (the slurm-wlm-torque wrappers cannot report array elements by index;
     * turn these on for a real Torque server whose qstat -t does).
     */
    nativeArrays: z.boolean().optional(),
    nativeDependencies: z.boolean().optional(),
    /**
     * Options of the chosen scheduler's adapter, validated by that adapter's own schema
     * (ADAPTER_OPTIONS): an option the adapter does not declare is a configuration problem.
     */
    adapter: z.record(z.string(), z.unknown()).optional(),
    /** `local`: the daemon runs on the login node itself; `ssh`: it reaches the login node over SSH. */
    transport: z.enum(['local', 'ssh']).default('local'),
    ssh: SshSchema.optional(),
    /**
     * Absolute directory on the cluster for job directories and the artifact cache. `{user}` is
     * replaced by the Unix account a job runs as (`/scratch/{user}/hpc-bridge`), so each
     * account's files live under a directory only it can enter.
     */
    scratchRoot: z
      .string()
      .regex(/^\//, 'must be an absolute path')
      .refine((v) => !/\{(?!user\})[^}]*\}/.test(v), 'the only placeholder is {user}'),
    /** The cluster's own account (defaults to ssh.user, or the daemon's user for local). */
    user: unixUser().optional(),
    /**
     * The cluster's own account (ssh.user / user) is a named shared account: users without an
     * identity of their own on this cluster run their jobs as it (a single-user or
     * trusted-group setup; `config check` warns). Otherwise such a user is refused.
     */
    sharedAccount: z.boolean().default(false),
    /** An identity that sees every user's jobs: status is then one scheduler command per poll for all users. */
    monitor: MonitorSchema.optional(),
    /**
     * Local clusters, daemon running as root: a user without an identity runs as the Unix
     * account of the same name when this machine has one (never root). The embedded default's
     * mapping on a machine without configuration (src/settings/localAccount.ts).
     */
    sameNameAccounts: z.boolean().default(false),
    /**
     * Local clusters, daemon running as root: a job whose account is root runs as root. Off, such
     * a job is refused; on, it is warned about at every start and by `config check`.
     */
    runJobsAsRoot: z.boolean().default(false),
    defaults: z
      .strictObject({ queue: z.string().optional(), account: z.string().optional(), qos: z.string().optional() })
      .default({}),
    pollIntervalSeconds: seconds(5, 0.2, 3600),
    /**
     * Follow each account's event log on the cluster (docs/ARCHITECTURE.md, "Completion
     * events"): jobs that start and end are learned within a fraction of a second, and the
     * status poll becomes the safety net at `safetyPollSeconds` while the follower is healthy.
     */
    events: z.boolean().default(true),
    safetyPollSeconds: seconds(60, 0.2, 86400),
    /** How often the follower on the login node looks for appends to the event log. */
    eventCheckSeconds: seconds(0.1, 0.01, 10),
    lostGraceSeconds: seconds(120, 1, 86400),
    submitBatchSize: z.number().int().min(1).max(1000).default(100),
    submitRatePerSecond: z.number().min(0.1).max(10000).default(200),
    /** Submit batches running at once per identity (each one remote program on its own channel). */
    submitsInFlight: z.number().int().min(1).max(8).default(2),
    commandTimeoutSeconds: seconds(60, 1, 3600),
    submitTimeoutSeconds: seconds(180, 1, 3600),
    /**
     * The daemon's API as the cluster's compute nodes reach it (`http://10.0.0.5:8742`). Set
     * only where they can: each job then gets a short-lived credential of its own for the
     * key-value routes and talks to the daemon directly. Unset, jobs reach the key-value store
     * through request files the daemon relays (`kvRelay`).
     */
    daemonUrlFromJobs: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .optional(),
    /**
     * Without daemonUrlFromJobs: relay the key-value requests jobs write into their directory
     * (one extra remote command per job at stage-in and one per account with running jobs, at
     * most once per poll interval). Off unless asked for: a cluster whose users never use the
     * store should not pay a command per job (a 1,000-instance sweep would pay 1,000).
     */
    kvRelay: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    if (c.transport === 'ssh' && !c.ssh) ctx.addIssue({ code: 'custom', path: ['ssh'], message: 'is required when transport is ssh' });
    if (c.transport === 'local' && c.ssh) ctx.addIssue({ code: 'custom', path: ['ssh'], message: 'is only used when transport is ssh' });
    if (c.scheduler === 'pbs' && !c.flavor) ctx.addIssue({ code: 'custom', path: ['flavor'], message: 'is required for scheduler pbs (pbspro or torque)' });
    if (c.scheduler !== 'pbs' && c.flavor) ctx.addIssue({ code: 'custom', path: ['flavor'], message: 'only applies to scheduler pbs' });
    for (const k of ['nativeArrays', 'nativeDependencies'] as const) {
      if (c.scheduler !== 'pbs' && c[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'only applies to scheduler pbs (Slurm always uses arrays and dependencies)' });
    }
    adapterOptionProblems(c, ctx);
    if (c.ssh && !c.ssh.privateKey && c.ssh.agent === false) ctx.addIssue({ code: 'custom', path: ['ssh', 'privateKey'], message: 'give a privateKey or enable agent' });
    if (c.monitor) credentialProblems(c.monitor, c.transport, ['monitor'], ctx);
    for (const k of ['sameNameAccounts', 'runJobsAsRoot'] as const) {
      if (c[k] && c.transport !== 'local') ctx.addIssue({ code: 'custom', path: [k], message: 'only applies to clusters with transport local (over SSH a job runs as the account its identity logs in as)' });
    }
    if (c.monitor && c.scheduler !== 'slurm') ctx.addIssue({ code: 'custom', path: ['monitor'], message: 'only applies to scheduler slurm (its squeue lists every user\'s jobs in one command)' });
  });

/** Key fields only mean something over SSH, where one of a key or an agent is needed. */
export function credentialProblems(id: { privateKey?: string | undefined; passphraseFile?: string | undefined; agent?: boolean | string | undefined; certificate?: string | undefined }, transport: 'local' | 'ssh', path: PropertyKey[], ctx: RefineContext): void {
  const keys = (['privateKey', 'passphraseFile', 'agent', 'certificate'] as const).filter((k) => id[k] !== undefined);
  if (transport === 'local') {
    for (const k of keys) ctx.addIssue({ code: 'custom', path: [...path, k], message: 'only applies to clusters with transport ssh (a local cluster needs only user)' });
    return;
  }
  if (!id.privateKey && !id.agent) ctx.addIssue({ code: 'custom', path: [...path, 'privateKey'], message: 'give a privateKey or enable agent' });
  if (id.passphraseFile && !id.privateKey) ctx.addIssue({ code: 'custom', path: [...path, 'passphraseFile'], message: 'only applies with a privateKey' });
  if (id.certificate !== undefined) {
    ctx.addIssue({ code: 'custom', path: [...path, 'certificate'], message: 'OpenSSH user certificates cannot be presented by the SSH library the daemon uses; give the key alone and authorize it on the cluster (docs/DEPLOY.md, "Identities and keys")' });
  }
}
export type ClusterConfig = z.infer<typeof ClusterSchema>;

interface RefineContext {
  addIssue(issue: { code: 'custom'; path: PropertyKey[]; message: string } | { code: 'unrecognized_keys'; keys: string[]; path: PropertyKey[]; message: string }): void;
}

function adapterOptionProblems(
  c: { scheduler: keyof typeof ADAPTER_OPTIONS; flavor?: string | undefined; adapter?: Record<string, unknown> | undefined; nativeArrays?: boolean | undefined; nativeDependencies?: boolean | undefined },
  ctx: RefineContext,
): void {
  if (c.adapter === undefined) return;
  const r = ADAPTER_OPTIONS[c.scheduler].safeParse(c.adapter);
  if (!r.success) {
    // Re-issued under `adapter.` so the loader names the key as the operator wrote it; all adapter
    // options are optional, so zod's own message is kept (the loader would read a type error here
    // as a missing key).
    for (const i of r.error.issues) {
      const path = ['adapter', ...i.path];
      if (i.code === 'unrecognized_keys') ctx.addIssue({ code: 'unrecognized_keys', keys: i.keys, path, message: i.message });
      else ctx.addIssue({ code: 'custom', path, message: i.message });
    }
    return;
  }
  // The older top-level spelling of the two PBS switches still loads; both at once is ambiguous.
  for (const k of ['nativeArrays', 'nativeDependencies'] as const) {
    if (c[k] !== undefined && k in c.adapter) ctx.addIssue({ code: 'custom', path: ['adapter', k], message: `is also set at the top level of the file (${k}); keep one` });
  }
  if (c.scheduler === 'pbs' && c.flavor !== 'torque' && 'torqueStatusFormat' in c.adapter) {
    ctx.addIssue({ code: 'custom', path: ['adapter', 'torqueStatusFormat'], message: 'only applies to flavor torque' });
  }
}

const GiB = 1024 ** 3;
const LIMIT_DEFAULTS = {
  inputFileBytes: 1024 ** 2,
  outputBytesPerJob: 20 * GiB,
  artifactBytes: 100 * GiB,
  fetchTimeoutSeconds: 3600,
  snapshotBytes: 16 * 1024 ** 2,
  execSeconds: 120,
  execOutputBytes: 1024 ** 2,
};

const KV_DEFAULTS = { maxKeyBytes: 256, maxValueBytes: 64 * 1024, maxKeysPerUser: 10_000, jobCredentialHours: 168 };

/** The per-user key-value store (src/kv/): sizes that keep one user from filling the database. */
export const KvSchema = z.strictObject({
  /** Longest key, in bytes. */
  maxKeyBytes: z.number().int().min(1).max(1024).default(KV_DEFAULTS.maxKeyBytes),
  /** Largest value, in bytes. */
  maxValueBytes: z.number().int().min(1).max(16 * 1024 ** 2).default(KV_DEFAULTS.maxValueBytes),
  /** Keys one user may hold. */
  maxKeysPerUser: z.number().int().min(1).max(10_000_000).default(KV_DEFAULTS.maxKeysPerUser),
  /**
   * A job's credential stops working when the job ends, once its walltime (plus ten minutes)
   * has passed since it started, and at the latest this long after it was issued at stage-in.
   */
  jobCredentialHours: z.number().min(0.001).max(24 * 366).default(KV_DEFAULTS.jobCredentialHours),
});
export type KvConfig = z.infer<typeof KvSchema>;

export const LimitsSchema = z.strictObject({
  /** One inline input file (decoded); inputs travel inside the job definition and the database. */
  inputFileBytes: z.number().int().min(1).max(64 * 1024 ** 2).default(LIMIT_DEFAULTS.inputFileBytes),
  /** Everything one job's stage-out may bring back (outputs and task logs); the rest is reported. */
  outputBytesPerJob: z.number().int().min(0).default(LIMIT_DEFAULTS.outputBytesPerJob),
  /** One artifact, uploaded or fetched from a URL. */
  artifactBytes: z.number().int().min(1).default(LIMIT_DEFAULTS.artifactBytes),
  /** A URL artifact fetch that has not finished after this long is abandoned (and retried). */
  fetchTimeoutSeconds: seconds(LIMIT_DEFAULTS.fetchTimeoutSeconds, 1, 86400),
  /** One file read from a running job's directory (a snapshot); it travels whole in one answer. */
  snapshotBytes: z.number().int().min(1).max(1024 ** 3).default(LIMIT_DEFAULTS.snapshotBytes),
  /**
   * Longest time limit an exec in a running job may ask for. The answer comes when the command
   * ends, so the cap keeps it (plus the daemon's 45 s of grace) under the 300 s a client's fetch
   * waits for response headers.
   */
  execSeconds: z.number().int().min(1).max(240).default(LIMIT_DEFAULTS.execSeconds),
  /** Of an exec's stdout and of its stderr, this many bytes each are returned; the rest is counted. */
  execOutputBytes: z.number().int().min(1).max(64 * 1024 ** 2).default(LIMIT_DEFAULTS.execOutputBytes),
});
export type Limits = z.infer<typeof LimitsSchema>;

// ---- Operations: scheduled maintenance (src/ops/maintenance.ts) ----

/** A cron expression (5 fields, or 6 with seconds first) or `off`. */
const cronSchedule = (def: string) =>
  z
    .string()
    .refine((v) => v === 'off' || validCron(v), 'must be a cron expression ("m h dom mon dow", optionally seconds first) or "off"')
    .default(def);

const MAINTENANCE_DEFAULTS = {
  scratchRetentionDays: 14,
  outputRetentionDays: 30,
  artifactRetentionDays: 30,
  backupsKept: 7,
  schedules: { scratch: '30 3 * * *', store: '45 3 * * *', backup: '15 2 * * *', diskReport: '0 * * * *' },
};

export const MaintenanceSchema = z.strictObject({
  /** Job directories on cluster scratch are removed this long after their job ended. */
  scratchRetentionDays: z.number().min(0).max(3650).default(MAINTENANCE_DEFAULTS.scratchRetentionDays),
  /** Collected outputs and logs in the daemon's store are removed this long after their job ended. */
  outputRetentionDays: z.number().min(0).max(3650).default(MAINTENANCE_DEFAULTS.outputRetentionDays),
  /** Artifact bytes no artifact name and no active job refers to are removed after this long. */
  artifactRetentionDays: z.number().min(0).max(3650).default(MAINTENANCE_DEFAULTS.artifactRetentionDays),
  /** Database backups kept in <dataDir>/backups (oldest removed first). */
  backupsKept: z.number().int().min(1).max(1000).default(MAINTENANCE_DEFAULTS.backupsKept),
  /** When each task runs (the daemon's local time zone). */
  schedules: z
    .strictObject({
      scratch: cronSchedule(MAINTENANCE_DEFAULTS.schedules.scratch),
      store: cronSchedule(MAINTENANCE_DEFAULTS.schedules.store),
      backup: cronSchedule(MAINTENANCE_DEFAULTS.schedules.backup),
      diskReport: cronSchedule(MAINTENANCE_DEFAULTS.schedules.diskReport),
    })
    .default(MAINTENANCE_DEFAULTS.schedules),
});
export type MaintenanceConfig = z.infer<typeof MaintenanceSchema>;

// ---- Users: which clusters each may use, and the scheduler account charged there ----

/** A Slurm/PBS account (allocation) name: what `--account` / `-A` takes on real sites. */
const ACCOUNT_RE = /^[A-Za-z0-9_.@+-]{1,64}$/;

export const UserPolicySchema = z.strictObject({
  /** Clusters this user may submit to; omit for every configured cluster. */
  clusters: z.array(z.string().min(1)).min(1).optional(),
  /**
   * The scheduler account charged for this user's jobs, per cluster name. A job that names an
   * `account` itself keeps it; otherwise this one is written into its definition at submission
   * (so the stored definition says which allocation paid), before the cluster's default.
   */
  accounts: z.record(z.string().min(1), z.string().regex(ACCOUNT_RE, 'must be a scheduler account name (letters, digits, _ . @ + -)')).default({}),
  /**
   * The Unix account (and its credential) this user's jobs run as, per cluster name. A user
   * with none on a cluster is refused there unless the cluster declares `sharedAccount: true`.
   */
  identities: z.record(z.string().min(1), IdentitySchema).default({}),
});
export type UserPolicy = z.infer<typeof UserPolicySchema>;

// ---- Notifications: webhooks and e-mail when a job or workflow ends (src/notify) ----

const NOTIFICATION_DEFAULTS = {
  sendmail: '/usr/sbin/sendmail',
  allowHttpLoopback: false,
  timeoutSeconds: 10,
  concurrency: 4,
  retry: { initialDelaySeconds: 5, maxDelaySeconds: 600, maxAttempts: 12 },
};

export const NotificationsSchema = z.strictObject({
  /** A sendmail-compatible program (run as `<program> -t -i`); `off` refuses e-mail notifications. */
  sendmail: z.string().min(1).default(NOTIFICATION_DEFAULTS.sendmail),
  /** The From: of notification e-mails; by default hpc-bridge@<this host's name>. */
  from: z.string().regex(/^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]+$/, 'must be one e-mail address (user@host)').optional(),
  /** PEM certificates trusted for https webhooks in addition to the system's (a site's own CA). */
  caFile: z.string().min(1).optional(),
  /** Allow plain http webhooks to loopback addresses (tests, a receiver on this host); https is always allowed. */
  allowHttpLoopback: z.boolean().default(NOTIFICATION_DEFAULTS.allowHttpLoopback),
  /** One attempt (a POST and its answer, or one sendmail run) is abandoned after this long. */
  timeoutSeconds: z.number().positive().max(300).default(NOTIFICATION_DEFAULTS.timeoutSeconds),
  /** Attempts under way at once. */
  concurrency: z.number().int().min(1).max(64).default(NOTIFICATION_DEFAULTS.concurrency),
  /** Exponential backoff with jitter between attempts; after maxAttempts the delivery is recorded as failed. */
  retry: z
    .strictObject({
      initialDelaySeconds: z.number().positive().max(3600).default(NOTIFICATION_DEFAULTS.retry.initialDelaySeconds),
      maxDelaySeconds: z.number().positive().max(86400).default(NOTIFICATION_DEFAULTS.retry.maxDelaySeconds),
      maxAttempts: z.number().int().min(1).max(100).default(NOTIFICATION_DEFAULTS.retry.maxAttempts),
    })
    .default(NOTIFICATION_DEFAULTS.retry),
});
export type NotificationsConfig = z.infer<typeof NotificationsSchema>;

export const DaemonSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8742),
      socket: z.string().optional(),
      tls: z.strictObject({ cert: z.string(), key: z.string() }).optional(),
    })
    .default({ host: '127.0.0.1', port: 8742 }),
  /**
   * The web dashboard (docs/DASHBOARD.md): its own port, loopback by default like the API, and
   * it answers /api/v1 itself (same origin: no CORS). A busy port is logged, not fatal: the
   * API is what scripts depend on.
   */
  dashboard: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8743),
    })
    .default({ enabled: true, host: '127.0.0.1', port: 8743 }),
  /** Where the database, artifact store and outputs live. */
  dataDir: z.string().min(1).default('/var/lib/hpc-bridge'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The cluster used when a job names none. */
  defaultCluster: z.string().optional(),
  /** Folder of per-cluster files, relative to this file. */
  clustersDir: z.string().default('clusters.d'),
  /** Sizes that protect the daemon's disk and the job table (bytes). */
  limits: LimitsSchema.default(LIMIT_DEFAULTS),
  /** The per-user key-value store (README, "Key-value store"). */
  kv: KvSchema.default(KV_DEFAULTS),
  /** Scheduled clean-up, backups and disk reports (see docs/DEPLOY.md). */
  maintenance: MaintenanceSchema.default(MAINTENANCE_DEFAULTS),
  /** Webhook and e-mail delivery when jobs and workflows end (README, "Notifications"). */
  notifications: NotificationsSchema.default(NOTIFICATION_DEFAULTS),
  /** Per-user cluster access and scheduler accounts, keyed by the user name tokens are issued to. */
  users: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, 'must be a user name as tokens use it'), UserPolicySchema).default({}),
});
export type DaemonConfig = z.infer<typeof DaemonSchema>;

export interface Settings {
  daemon: DaemonConfig;
  clusters: ClusterConfig[];
  /** The file each part came from, for messages. */
  sources: { daemon: string; clusters: Record<string, string> };
}
