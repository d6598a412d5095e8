/**
 * Workflows in the SDK: a DAG of jobs, dependencies by exact job name, and factories that turn
 * one job into many instances. Each instance is an ordinary job on the daemon, so
 * `workflow.job(name, index)` gives a `Job` with stdout(), getOutputFile() and wait().
 *
 *   const wf = await new Workflow({ name: 'study', jobs: [prep, sim],
 *     dependencies: [new Dependency(prep, [sim])],
 *     factories: [new ParameterSweep(sim, [{ name: 'x', start: 0, end: 1, step: 0.1 }])] }).create();
 *   await wf.wait();
 */
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { getDefaultClient, HpcBridgeError, type Client, type RequestOptions } from './client.js';
import { Job } from './job.js';
import type { JobDefinition, JobStatus, NotificationDefinition, NotificationView } from './types.js';

export type WorkflowStatus = 'pending' | 'running' | 'completed' | 'failed' | 'deleted';

export interface WorkflowJobView {
  id: number;
  name: string;
  index: number;
  parameters: Record<string, string>;
  cluster: string;
  status: JobStatus;
  statusReason: string | null;
  nativeId: string | null;
}

export interface WorkflowView {
  id: number;
  name: string;
  labels: Record<string, string>;
  status: WorkflowStatus;
  progress: { total: number; completed: number; failed: number; deleted: number; running: number; waiting: number };
  createdAt: number;
  deletedAt: number | null;
  reruns: number;
  jobs: WorkflowJobView[];
  /** GET /workflows/{id} only: parent job name -> names of the jobs that wait for it. */
  dependencies?: Record<string, string[]>;
}

type JobRef = Job | string;
const nameOf = (j: JobRef): string => {
  const n = typeof j === 'string' ? j : j.name;
  if (!n) throw new HpcBridgeError('INVALID_DEFINITION', 'a job in a workflow needs a name', 0);
  return n;
};

/** `parent` must complete before each of `children` starts. */
export class Dependency {
  constructor(
    readonly parent: JobRef,
    readonly children: JobRef[],
  ) {}
}

export interface SweepParameter {
  name: string;
  start: number;
  end: number;
  step: number;
}

/** Every combination of the parameters' values (Cartesian product, first parameter slowest). */
export class ParameterSweep {
  constructor(
    readonly jobs: JobRef | JobRef[],
    readonly parameters: SweepParameter[],
    readonly name = '',
  ) {}
  toJSON() {
    return { type: 'parameterSweep' as const, name: this.name, jobs: [this.jobs].flat().map(nameOf), parameters: this.parameters };
  }
}

/** Instance i gets the i-th value of every parameter (all lists the same length). */
export class Zip {
  constructor(
    readonly jobs: JobRef | JobRef[],
    readonly parameters: { name: string; values: (string | number)[] }[],
    readonly name = '',
  ) {}
  toJSON() {
    return { type: 'zip' as const, name: this.name, jobs: [this.jobs].flat().map(nameOf), parameters: this.parameters };
  }
}

/** `number` identical instances (each sees HPCB_INSTANCE_INDEX). */
export class Repeat {
  constructor(
    readonly jobs: JobRef | JobRef[],
    readonly number: number,
    readonly name = '',
  ) {}
  toJSON() {
    return { type: 'repeat' as const, name: this.name, jobs: [this.jobs].flat().map(nameOf), number: this.number };
  }
}

export interface WorkflowInit {
  name?: string;
  labels?: Record<string, string>;
  jobs: (Job | JobDefinition)[];
  dependencies?: Dependency[] | Record<string, string[]>;
  factories?: (ParameterSweep | Zip | Repeat)[];
  policies?: { maximumRetries?: number; maximumParallel?: number };
  /** Told when every job of the workflow has ended (README, "Notifications"). */
  notifications?: NotificationDefinition<'workflowFinished'>[];
}

const TERMINAL: WorkflowStatus[] = ['completed', 'failed', 'deleted'];

export class Workflow {
  id: number | undefined;
  info: WorkflowView | undefined;
  private readonly client: Client;

  constructor(
    readonly init: WorkflowInit,
    client?: Client,
  ) {
    this.client = client ?? getDefaultClient();
  }

  toJSON(): Record<string, unknown> {
    const deps: Record<string, string[]> = {};
    if (Array.isArray(this.init.dependencies)) {
      for (const d of this.init.dependencies) (deps[nameOf(d.parent)] ??= []).push(...d.children.map(nameOf));
    } else Object.assign(deps, this.init.dependencies ?? {});
    return {
      ...(this.init.name !== undefined ? { name: this.init.name } : {}),
      ...(this.init.labels ? { labels: this.init.labels } : {}),
      jobs: this.init.jobs.map((j) => (j instanceof Job ? j.toJSON() : j)),
      dependencies: deps,
      factories: (this.init.factories ?? []).map((f) => f.toJSON()),
      ...(this.init.policies ? { policies: this.init.policies } : {}),
      ...(this.init.notifications?.length ? { notifications: this.init.notifications } : {}),
    };
  }

  private call(method: string, path: string, opts: RequestOptions = {}): Promise<WorkflowView> {
    return this.client.call<WorkflowView>(method, path, opts);
  }

  /** Create the workflow; keyed and retried like Job.create(), so a lost answer never makes a second one. */
  async create(opts: { idempotencyKey?: string } = {}): Promise<this> {
    if (this.id !== undefined) throw new HpcBridgeError('CONFLICT', `this Workflow object is already workflow ${this.id}`, 0);
    this.info = await this.client.createWorkflow<WorkflowView>(this.toJSON(), opts);
    this.id = this.info.id;
    return this;
  }

  static async get(id: number, client?: Client): Promise<Workflow> {
    const c = client ?? getDefaultClient();
    const wf = new Workflow({ jobs: [] }, c);
    wf.id = id;
    await wf.refresh();
    return wf;
  }

  static async list(client?: Client): Promise<WorkflowView[]> {
    return (await (client ?? getDefaultClient()).call<{ workflows: WorkflowView[] }>('GET', '/workflows')).workflows;
  }

  get status(): WorkflowStatus | undefined {
    return this.info?.status;
  }

  async refresh(): Promise<WorkflowView> {
    return (this.info = await this.call('GET', `/workflows/${this.requireId()}`));
  }

  /**
   * Wait until every job has ended (or `timeout` seconds pass), by long-polling the daemon,
   * which answers the moment the last job's terminal state is recorded. Returns the view.
   */
  async wait(opts: { timeout?: number; signal?: AbortSignal } = {}): Promise<WorkflowView> {
    return (this.info = await this.client.longPoll<WorkflowView>(`/workflows/${this.requireId()}/wait`, (v) => TERMINAL.includes(v.status), opts.timeout, opts.signal));
  }

  async delete(): Promise<WorkflowView> {
    return (this.info = await this.call('DELETE', `/workflows/${this.requireId()}`));
  }

  /** The deliveries of this workflow's notifications (one per entry each time it finishes). */
  async deliveries(): Promise<NotificationView[]> {
    return (await this.client.call<{ notifications: NotificationView[] }>('GET', `/workflows/${this.requireId()}/notifications`)).notifications;
  }

  async rerun(): Promise<WorkflowView> {
    return (this.info = await this.call('POST', `/workflows/${this.requireId()}/rerun`));
  }

  /** One instance as a Job (stdout(), getOutputFile(), wait() ...), by job name and index. */
  async job(name: string, index = 0): Promise<Job> {
    const view = this.info ?? (await this.refresh());
    const j = view.jobs.find((x) => x.name === name && x.index === index);
    if (!j) throw new HpcBridgeError('NOT_FOUND', `workflow ${this.id} has no job "${name}" with index ${index}`, 404);
    return Job.get(j.id, this.client);
  }

  /**
   * Download every collected output of the workflow's current instances into `dir`, one folder
   * per instance: `<dir>/<job name>/<index>/<output name>`. Outputs the daemon could not
   * collect (and instances that collected nothing) are listed in `problems`, not thrown.
   */
  async downloadOutputs(dir: string, opts: { onFile?: (path: string, job: WorkflowJobView, output: string) => void } = {}): Promise<{ files: string[]; problems: { job: string; index: number; name: string; reason: string }[] }> {
    const view = await this.refresh();
    const root = resolve(dir);
    const files: string[] = [];
    const problems: { job: string; index: number; name: string; reason: string }[] = [];
    for (const j of view.jobs) {
      const outs = await this.client.listOutputs(j.id);
      for (const p of outs.problems) problems.push({ job: j.name, index: j.index, name: p.name, reason: p.reason });
      for (const o of outs.outputs) {
        const target = resolve(root, instanceFolder(j.name), String(j.index), o.name);
        // Output names are relative paths the daemon checked; refuse anything that would still land outside.
        const rel = relative(root, target);
        if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
          problems.push({ job: j.name, index: j.index, name: o.name, reason: 'name leaves the target directory' });
          continue;
        }
        await mkdir(dirname(target), { recursive: true });
        await this.client.downloadOutputTo(j.id, o.name, target);
        files.push(target);
        opts.onFile?.(target, j, o.name);
      }
    }
    return { files, problems };
  }

  private requireId(): number {
    if (this.id === undefined) throw new HpcBridgeError('CONFLICT', 'this workflow has not been created yet (call create())', 0);
    return this.id;
  }
}

/**
 * A job name as one folder name: job names may contain `/` (and could be `.` or `..`), which
 * would nest or escape; those characters become `_`.
 */
export function instanceFolder(jobName: string): string {
  const s = jobName.replace(/[^A-Za-z0-9 _.-]/g, '_');
  return /^\.*$/.test(s) ? s.replace(/\./g, '_') || '_' : s;
}
