/**
 * "Workflows as code": objects that build a job definition and drive a job through the daemon.
 * Field names follow the job definition (and PROMINENCE's vocabulary) so a definition written
 * as JSON and one built from these classes look alike.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Client, getDefaultClient, HpcBridgeError, type LogChunk, type Progress } from './client.js';
import type {
  NotificationDefinition,
  NotificationView,
  ArtifactDefinition,
  ArtifactView,
  ExecView,
  JobDefinition,
  JobEventView,
  JobStatus,
  JobView,
  OutputsView,
  PoliciesDefinition,
  ResourcesDefinition,
  TaskDefinition,
  TaskType,
} from './types.js';
import { TERMINAL_STATUSES } from './types.js';

export class Task {
  cmd: string;
  env?: Record<string, string>;
  workdir?: string;
  type?: TaskType;
  procsPerNode?: number;
  image?: string;
  runtime?: 'apptainer' | 'singularity' | 'podman';

  constructor(cmd: string | TaskDefinition = '', opts: Omit<TaskDefinition, 'cmd'> = {}) {
    const def = typeof cmd === 'string' ? { ...opts, cmd } : cmd;
    this.cmd = def.cmd;
    Object.assign(this, stripUndefined({ ...def }));
  }

  toJSON(): TaskDefinition {
    return stripUndefined({ cmd: this.cmd, env: this.env, workdir: this.workdir, type: this.type, procsPerNode: this.procsPerNode, image: this.image, runtime: this.runtime });
  }
}

export class Resources implements ResourcesDefinition {
  nodes?: number;
  cpus?: number;
  memory?: number;
  memoryPerCpu?: number;
  walltime?: number;
  gpus?: number;
  disk?: number;

  constructor(init: ResourcesDefinition = {}) {
    Object.assign(this, stripUndefined({ ...init }));
  }

  toJSON(): ResourcesDefinition {
    return stripUndefined({ nodes: this.nodes, cpus: this.cpus, memory: this.memory, memoryPerCpu: this.memoryPerCpu, walltime: this.walltime, gpus: this.gpus, disk: this.disk });
  }
}

export class JobPolicies implements PoliciesDefinition {
  maximumRetries?: number;
  maximumTaskRetries?: number;
  maximumTimeInQueue?: number;
  ignoreTaskFailures?: boolean;
  priority?: number;
  leaveInQueue?: boolean;

  constructor(init: PoliciesDefinition = {}) {
    Object.assign(this, stripUndefined({ ...init }));
  }

  toJSON(): PoliciesDefinition {
    return stripUndefined({
      maximumRetries: this.maximumRetries,
      maximumTaskRetries: this.maximumTaskRetries,
      maximumTimeInQueue: this.maximumTimeInQueue,
      ignoreTaskFailures: this.ignoreTaskFailures,
      priority: this.priority,
      leaveInQueue: this.leaveInQueue,
    });
  }
}

/** A small file written into the job directory before the first task (bytes or UTF-8 text). */
export class InputFile {
  constructor(
    readonly filename: string,
    readonly contents: string | Uint8Array,
    readonly opts: { executable?: boolean } = {},
  ) {}

  toJSON(): { filename: string; content: string; executable?: boolean } {
    const bytes = typeof this.contents === 'string' ? Buffer.from(this.contents, 'utf8') : Buffer.from(this.contents);
    return stripUndefined({ filename: this.filename, content: bytes.toString('base64'), executable: this.opts.executable });
  }
}

/** A large input uploaded once under a name and referenced by any number of jobs. */
export class Artifact {
  constructor(
    readonly name: string,
    readonly opts: { mountpoint?: string; executable?: boolean; client?: Client } = {},
  ) {}

  /** Stream the local file at `path` to the daemon under this artifact's name. */
  upload(path: string, opts: { onProgress?: Progress } = {}): Promise<ArtifactView> {
    return (this.opts.client ?? getDefaultClient()).uploadArtifact(this.name, path, opts);
  }

  info(): Promise<ArtifactView> {
    return (this.opts.client ?? getDefaultClient()).getArtifact(this.name);
  }

  delete(): Promise<void> {
    return (this.opts.client ?? getDefaultClient()).deleteArtifact(this.name);
  }

  toJSON(): ArtifactDefinition {
    return stripUndefined({ url: this.name, mountpoint: this.opts.mountpoint, executable: this.opts.executable });
  }
}

export interface JobInit {
  name?: string;
  labels?: Record<string, string>;
  tasks?: (Task | TaskDefinition)[];
  resources?: Resources | ResourcesDefinition;
  inputFiles?: InputFile[];
  artifacts?: (Artifact | ArtifactDefinition)[];
  outputFiles?: string[];
  outputDirs?: string[];
  policies?: JobPolicies | PoliciesDefinition;
  /** Told when the job ends: webhooks and e-mail (README, "Notifications"). */
  notifications?: NotificationDefinition<'jobFinished'>[];
  cluster?: string;
  queue?: string;
  account?: string;
  qos?: string;
  reservation?: string;
  constraint?: string;
}

export class Job {
  id: number | undefined;
  name?: string;
  labels: Record<string, string>;
  tasks: Task[];
  resources: Resources;
  inputFiles: InputFile[];
  artifacts: (Artifact | ArtifactDefinition)[];
  outputFiles: string[];
  outputDirs: string[];
  policies: JobPolicies;
  notifications: NotificationDefinition<'jobFinished'>[];
  cluster?: string;
  queue?: string;
  account?: string;
  qos?: string;
  reservation?: string;
  constraint?: string;
  /** The daemon's description as of the last refresh/wait (undefined before create/get). */
  info: JobView | undefined;
  private readonly client: Client;

  constructor(init: JobInit = {}, client?: Client) {
    this.client = client ?? getDefaultClient();
    this.id = undefined;
    this.info = undefined;
    Object.assign(this, stripUndefined({ name: init.name, cluster: init.cluster, queue: init.queue, account: init.account, qos: init.qos, reservation: init.reservation, constraint: init.constraint }));
    this.labels = { ...(init.labels ?? {}) };
    this.tasks = (init.tasks ?? []).map((t) => (t instanceof Task ? t : new Task(t)));
    this.resources = init.resources instanceof Resources ? init.resources : new Resources(init.resources);
    this.inputFiles = [...(init.inputFiles ?? [])];
    this.artifacts = [...(init.artifacts ?? [])];
    this.outputFiles = [...(init.outputFiles ?? [])];
    this.outputDirs = [...(init.outputDirs ?? [])];
    this.policies = init.policies instanceof JobPolicies ? init.policies : new JobPolicies(init.policies);
    this.notifications = [...(init.notifications ?? [])];
  }

  /** Attach to an existing job by id. */
  static async get(id: number, client?: Client): Promise<Job> {
    const c = client ?? getDefaultClient();
    const view = await c.getJob(id);
    const d = view.definition;
    const job = new Job(
      {
        ...stripUndefined({ name: d.name, cluster: d.cluster, queue: d.queue, account: d.account, qos: d.qos, reservation: d.reservation, constraint: d.constraint }),
        labels: d.labels ?? {},
        tasks: d.tasks,
        resources: d.resources ?? {},
        inputFiles: (d.inputs ?? []).map((f) => new InputFile(f.filename, Buffer.from(f.content, 'base64'), stripUndefined({ executable: f.executable }))),
        artifacts: (d.artifacts ?? []).map((a) => new Artifact(a.url, stripUndefined({ mountpoint: a.mountpoint, executable: a.executable, client: c }))),
        outputFiles: d.outputFiles ?? [],
        outputDirs: d.outputDirs ?? [],
        policies: d.policies ?? {},
        // Webhook secrets come back redacted: such a Job must be given its secret again before create().
        notifications: d.notifications ?? [],
      },
      c,
    );
    job.id = view.id;
    job.info = view;
    return job;
  }

  toJSON(): JobDefinition {
    const resources = this.resources.toJSON();
    const policies = this.policies.toJSON();
    return stripUndefined({
      name: this.name,
      labels: Object.keys(this.labels).length ? this.labels : undefined,
      tasks: this.tasks.map((t) => t.toJSON()),
      resources: Object.keys(resources).length ? resources : undefined,
      inputs: this.inputFiles.length ? this.inputFiles.map((f) => f.toJSON()) : undefined,
      artifacts: this.artifacts.length ? this.artifacts.map((a) => (a instanceof Artifact ? a.toJSON() : a)) : undefined,
      outputFiles: this.outputFiles.length ? this.outputFiles : undefined,
      outputDirs: this.outputDirs.length ? this.outputDirs : undefined,
      policies: Object.keys(policies).length ? policies : undefined,
      notifications: this.notifications.length ? this.notifications : undefined,
      cluster: this.cluster,
      queue: this.queue,
      account: this.account,
      qos: this.qos,
      reservation: this.reservation,
      constraint: this.constraint,
    });
  }

  /**
   * Submit this definition; sets `id`. The call carries an idempotency key (generated when none
   * is given) and is retried through transient failures with it, so a lost answer never makes
   * a second job.
   */
  async create(opts: { idempotencyKey?: string } = {}): Promise<this> {
    if (this.id !== undefined) throw new HpcBridgeError('CONFLICT', `this Job object is already job ${this.id}`, 0);
    const made = await this.client.createJob(this.toJSON(), opts);
    this.id = made.id;
    this.info = 'status' in made ? made : await this.client.getJob(made.id);
    return this;
  }

  /** The status as of the last create/get/refresh/wait. Call `refresh()` for a fresh one. */
  get status(): JobStatus | undefined {
    return this.info?.status;
  }

  get statusReason(): string | null | undefined {
    return this.info?.statusReason;
  }

  /** True once the job has ended, as of the last refresh. */
  get done(): boolean {
    return this.info !== undefined && TERMINAL_STATUSES.includes(this.info.status);
  }

  async refresh(): Promise<JobView> {
    return (this.info = await this.client.getJob(this.requireId()));
  }

  /**
   * Wait until the job ends (or `timeout` seconds pass) and return its description. Driven by
   * the daemon's long-poll, which answers when the terminal state is recorded.
   */
  async wait(opts: { timeout?: number; signal?: AbortSignal } = {}): Promise<JobView> {
    return (this.info = await this.client.waitJob(this.requireId(), opts.timeout, opts.signal));
  }

  /** stdout of a task (default: the daemon's default task) from a byte offset, as text. */
  async stdout(opts: { offset?: number; task?: number } = {}): Promise<string> {
    return (await this.client.readLog(this.requireId(), 'stdout', opts)).text;
  }

  async stderr(opts: { offset?: number; task?: number } = {}): Promise<string> {
    return (await this.client.readLog(this.requireId(), 'stderr', opts)).text;
  }

  /** stdout (or stderr) as it grows, until the job has ended; resumes by byte offset across daemon restarts. */
  follow(which: 'stdout' | 'stderr' = 'stdout', opts: { offset?: number; task?: number; signal?: AbortSignal } = {}): AsyncGenerator<LogChunk> {
    return this.client.followLog(this.requireId(), which, opts);
  }

  /** A log chunk with the offset to continue from (for following a running job). */
  readLog(which: 'stdout' | 'stderr', opts: { offset?: number; task?: number } = {}): Promise<LogChunk> {
    return this.client.readLog(this.requireId(), which, opts);
  }

  listOutputs(): Promise<OutputsView> {
    return this.client.listOutputs(this.requireId());
  }

  /**
   * An output file's bytes (binary-safe), or with `saveAs` streamed to that path, whose path is
   * returned. Failures throw; nothing is returned in place of an error.
   */
  getOutputFile(name: string): Promise<Buffer>;
  getOutputFile(name: string, opts: { saveAs: string; onProgress?: Progress }): Promise<string>;
  async getOutputFile(name: string, opts?: { saveAs: string; onProgress?: Progress }): Promise<Buffer | string> {
    if (opts?.saveAs) {
      await mkdir(dirname(opts.saveAs), { recursive: true });
      return this.client.downloadOutputTo(this.requireId(), name, opts.saveAs, opts.onProgress ? { onProgress: opts.onProgress } : {});
    }
    return this.client.downloadOutput(this.requireId(), name);
  }

  /** An output file decoded as UTF-8 text. */
  async getOutputText(name: string): Promise<string> {
    return (await this.getOutputFile(name)).toString('utf8');
  }

  /**
   * One file of the job's directory as it is now, while the job runs (the intermediate output of
   * a long run), read as the job's own account; `path` is relative to the job directory. With
   * `saveAs` the bytes are written to that path, which is returned.
   */
  snapshot(path: string): Promise<Buffer>;
  snapshot(path: string, opts: { saveAs: string }): Promise<string>;
  async snapshot(path: string, opts?: { saveAs: string }): Promise<Buffer | string> {
    const data = await this.client.snapshot(this.requireId(), path);
    if (!opts?.saveAs) return data;
    await mkdir(dirname(opts.saveAs), { recursive: true });
    // A temporary name first, so a reader of saveAs never sees half a snapshot.
    const tmp = `${opts.saveAs}.part-${process.pid}`;
    await writeFile(tmp, data);
    await rename(tmp, opts.saveAs);
    return opts.saveAs;
  }

  /** A snapshot decoded as UTF-8 text. */
  async snapshotText(path: string): Promise<string> {
    return (await this.snapshot(path)).toString('utf8');
  }

  /**
   * Run a short command inside the running job's allocation (Slurm: a step beside the job's own)
   * in its directory, as the job's account; resolves with its exit status and output once it
   * ended, or with `timedOut` once `timeoutSeconds` (default 60) cut it off. Refused on PBS.
   */
  exec(argv: readonly string[], opts: { timeoutSeconds?: number } = {}): Promise<ExecView> {
    return this.client.execInJob(this.requireId(), argv, opts);
  }

  events(): Promise<JobEventView[]> {
    return this.client.jobEvents(this.requireId());
  }

  /** The deliveries of this job's notifications (none before it ends). */
  async deliveries(): Promise<NotificationView[]> {
    return (await this.client.call<{ notifications: NotificationView[] }>('GET', `/jobs/${this.requireId()}/notifications`)).notifications;
  }

  /** Cancel the job (idempotent). */
  async delete(): Promise<JobView> {
    return (this.info = await this.client.deleteJob(this.requireId()));
  }

  /** A new job from this one's definition (keyed and retried like create()). */
  async clone(opts: { idempotencyKey?: string } = {}): Promise<Job> {
    const { id } = await this.client.cloneJob(this.requireId(), opts);
    return Job.get(id, this.client);
  }

  private requireId(): number {
    if (this.id === undefined) throw new HpcBridgeError('INVALID_REQUEST', 'this job has not been created yet: call create() first', 0);
    return this.id;
  }
}

function stripUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
