/**
 * The wire types of the HTTP API, written out by hand so that the client package is
 * self-contained: its .d.ts files must not reference the daemon's zod schemas (zod is not a
 * dependency of the client). test/api/types.test.ts checks at compile time that
 * `JobDefinition` and the daemon's `JobSpecInput` accept exactly the same documents, so the two
 * cannot drift apart silently.
 */

export type TaskType = 'basic' | 'sidecar' | 'openmpi' | 'mpich' | 'intelmpi' | 'srun';

export interface TaskDefinition {
  /** A shell command line, run in the job directory (or `workdir` below it). */
  cmd: string;
  env?: Record<string, string> | undefined;
  workdir?: string | undefined;
  type?: TaskType | undefined;
  procsPerNode?: number | undefined;
  image?: string | undefined;
  runtime?: 'apptainer' | 'singularity' | 'podman' | undefined;
}

export interface ResourcesDefinition {
  nodes?: number | undefined;
  /** CPUs per node. */
  cpus?: number | undefined;
  /** GB per node. */
  memory?: number | undefined;
  /** GB per CPU. */
  memoryPerCpu?: number | undefined;
  /** Minutes. */
  walltime?: number | undefined;
  gpus?: number | undefined;
  /** GB of scratch disk. */
  disk?: number | undefined;
}

export interface InputFileDefinition {
  filename: string;
  /** base64 */
  content: string;
  executable?: boolean | undefined;
}

export interface ArtifactDefinition {
  /** The name of an uploaded artifact, or an http(s) URL. */
  url: string;
  mountpoint?: string | undefined;
  executable?: boolean | undefined;
}

export interface PoliciesDefinition {
  maximumRetries?: number | undefined;
  maximumTaskRetries?: number | undefined;
  /** Minutes; 0 = no limit. */
  maximumTimeInQueue?: number | undefined;
  ignoreTaskFailures?: boolean | undefined;
  priority?: number | undefined;
  leaveInQueue?: boolean | undefined;
}

/**
 * Told when a job (event "jobFinished") or a workflow ("workflowFinished") ends. A webhook is an
 * https POST of a JSON body signed with `secret` (HMAC-SHA256; README, "Notifications"); e-mail
 * goes through the daemon host's sendmail program. The secret is never shown back.
 */
export type NotificationDefinition<E extends string = 'jobFinished'> =
  | { event: E; type: 'webhook'; url: string; secret: string }
  | { event: E; type: 'email'; to: string };

/** One delivery of a notification, as `GET /jobs/{id}/notifications` shows it. */
export interface NotificationView {
  /** Also in the body and the X-Hpcb-Delivery header: a receiver drops repeats by it. */
  deliveryId: string;
  event: 'jobFinished' | 'workflowFinished';
  type: 'webhook' | 'email';
  /** The URL or the address. */
  target: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** When the next attempt is due (pending only). */
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastError: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

/** A job definition as a user writes it (defaults may be left out). */
export interface JobDefinition {
  name?: string | undefined;
  labels?: Record<string, string> | undefined;
  tasks: TaskDefinition[];
  resources?: ResourcesDefinition | undefined;
  inputs?: InputFileDefinition[] | undefined;
  artifacts?: ArtifactDefinition[] | undefined;
  outputFiles?: string[] | undefined;
  outputDirs?: string[] | undefined;
  policies?: PoliciesDefinition | undefined;
  notifications?: NotificationDefinition<'jobFinished'>[] | undefined;
  cluster?: string | undefined;
  queue?: string | undefined;
  account?: string | undefined;
  qos?: string | undefined;
  reservation?: string | undefined;
  constraint?: string | undefined;
}

export type JobStatus = 'pending' | 'idle' | 'running' | 'completed' | 'failed' | 'killed' | 'deleted';
export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'killed', 'deleted'];

/** A job as the API describes it. Times are ISO-8601 strings (UTC) or null. */
export interface JobView {
  id: number;
  name: string;
  user: string;
  cluster: string;
  /** The Unix account the job runs as on the cluster; null: the cluster's own account (jobs from before identities). */
  clusterUser: string | null;
  status: JobStatus;
  /** The daemon's finer internal phase (accepted, staging_in, submitting, queued, ...). */
  phase: string;
  statusReason: string | null;
  labels: Record<string, string>;
  nativeId: string | null;
  nativeState: string | null;
  attempt: number;
  taskExitCodes: (number | null)[] | null;
  exitCode: number | null;
  accounting: { elapsedSeconds?: number; maxRssBytes?: number; nodeList?: string; exitCode?: number | null; nativeState?: string } | null;
  cancelRequested: boolean;
  workflowId: number | null;
  createdAt: string;
  submittedAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  updatedAt: string;
  /** The validated definition, with defaults filled in. */
  definition: JobDefinition;
}

/** A row of `GET /jobs`: a job without its definition (which may inline input files). */
export type JobSummaryView = Omit<JobView, 'definition'>;

/** `GET /jobs/counts`: the caller's jobs per status. */
export interface JobCountsView {
  counts: Partial<Record<JobStatus, number>>;
  total: number;
}

export interface JobEventView {
  id: number;
  jobId: number;
  at: string;
  from: string | null;
  to: string;
  status: JobStatus;
  reason: string | null;
}

/** One key of the key-value store. */
export interface KvKeyView {
  key: string;
  /** The value's size in bytes. */
  size: number;
  updatedAt: string;
}

/** A key with its value: `value` when the bytes are UTF-8 text, else `valueBase64`. */
export interface KvEntryView extends KvKeyView {
  value?: string;
  valueBase64?: string;
}

export interface ArtifactView {
  name: string;
  size: number;
  sha256: string;
  createdAt: string;
  /** In lists: the newest of the caller's jobs that staged these bytes. */
  usedBy?: number[];
}

export interface OutputView {
  name: string;
  size: number;
  sha256: string;
  kind: 'file' | 'directory';
}

export interface OutputsView {
  outputs: OutputView[];
  problems: { name: string; reason: string }[];
}

/** What a command run inside a running job (POST /jobs/{id}/exec) returned. */
export interface ExecView {
  /** The command's exit status; null when it was cut off at its time limit. */
  exitCode: number | null;
  /** The time limit ended the command (its output up to then is still here). */
  timedOut: boolean;
  /** The first bytes of each stream (the daemon's limits.execOutputBytes), as UTF-8 text. */
  stdout: string;
  stderr: string;
  /** How many bytes each stream carried in all. */
  stdoutBytes: number;
  stderrBytes: number;
  /** A stream carried more than was kept. */
  truncated: boolean;
  timeoutSeconds: number;
  durationMs: number;
}

export interface ClusterView {
  name: string;
  scheduler: 'slurm' | 'pbs' | 'direct';
  /** null while the first poll has not run yet. */
  reachable: boolean | null;
  state: 'unknown' | 'ok' | 'degraded';
  lastOkAt: string | null;
  lastError: string | null;
}

export interface RenderView {
  cluster: string;
  scheduler: string;
  definition: JobDefinition;
  script: string;
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string; problems?: { field: string; message: string }[] };
}

export interface ListJobsFilter {
  /** Terminal jobs only. */
  completed?: boolean;
  /** Active and terminal jobs. */
  all?: boolean;
  status?: JobStatus;
  name?: string;
  labels?: Record<string, string>;
  limit?: number;
  workflowId?: number;
  cluster?: string;
  /** Only ids below this: the last id of the previous page (newest first). */
  before?: number;
}
