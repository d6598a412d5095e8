/**
 * The notification outbox (migration 0008) on the store's connection. The enqueue methods are
 * called by the store inside the transaction that moves a job to a terminal state; the delivery
 * worker (src/notify) claims due rows, records each attempt before it is made and its result
 * after, and never touches a row that is no longer pending.
 */
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { WorkflowNotificationsSchema, type Notification, type NotificationBody } from '../domain/notifications.js';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface NotificationRow {
  id: number;
  deliveryId: string;
  owner: string;
  jobId: number | null;
  workflowId: number | null;
  event: string;
  /** The entry of the definition's `notifications` list this row delivers. */
  index: number;
  type: 'webhook' | 'email';
  /** The URL or the address (never the secret). */
  target: string;
  /** The JSON body, delivery id included. */
  body: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  createdAt: number;
}

/** What a terminal job contributes to its jobFinished body. */
export interface FinishedJob {
  id: number;
  owner: string;
  name: string;
  status: string;
  statusReason: string | null;
  exitCode: number | null;
  cluster: string;
  workflowId: number | null;
  notifications?: readonly Notification[] | undefined;
}

type Row = Record<string, unknown>;

function toRow(r: Row): NotificationRow {
  return {
    id: r.id as number,
    deliveryId: r.delivery_id as string,
    owner: r.owner as string,
    jobId: (r.job_id as number | null) ?? null,
    workflowId: (r.workflow_id as number | null) ?? null,
    event: r.event as string,
    index: r.idx as number,
    type: r.type as 'webhook' | 'email',
    target: r.target as string,
    body: r.body as string,
    status: r.status as DeliveryStatus,
    attempts: r.attempts as number,
    nextAttemptAt: r.next_attempt_at as number,
    lastAttemptAt: (r.last_attempt_at as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    deliveredAt: (r.delivered_at as number | null) ?? null,
    createdAt: r.created_at as number,
  };
}

export class NotificationTables {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      insert: db.prepare(
        `INSERT OR IGNORE INTO notifications (delivery_id, owner, job_id, workflow_id, event, event_key, idx, type, target, body, next_attempt_at, created_at)
         VALUES (@deliveryId, @owner, @jobId, @workflowId, @event, @eventKey, @idx, @type, @target, @body, @now, @now)`,
      ),
      unfinished: db.prepare(
        `SELECT COUNT(*) AS n FROM jobs WHERE workflow_id = ? AND kind = 'job' AND wf_current = 1 AND state NOT IN ('completed', 'failed', 'killed', 'deleted')`,
      ),
      counts: db.prepare(`SELECT state, COUNT(*) AS n FROM jobs WHERE workflow_id = ? AND kind = 'job' AND wf_current = 1 GROUP BY state`),
      workflow: db.prepare('SELECT id, owner, name, spec, deleted_at, reruns FROM workflows WHERE id = ?'),
      due: db.prepare(`SELECT * FROM notifications WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`),
      nextDue: db.prepare(`SELECT MIN(next_attempt_at) AS at FROM notifications WHERE status = 'pending'`),
      get: db.prepare('SELECT * FROM notifications WHERE id = ?'),
      begin: db.prepare(`UPDATE notifications SET attempts = attempts + 1, last_attempt_at = ?, next_attempt_at = ? WHERE id = ? AND status = 'pending'`),
      delivered: db.prepare(`UPDATE notifications SET status = 'delivered', delivered_at = ?, last_error = NULL WHERE id = ? AND status = 'pending'`),
      retry: db.prepare(`UPDATE notifications SET next_attempt_at = ?, last_error = ? WHERE id = ? AND status = 'pending'`),
      failed: db.prepare(`UPDATE notifications SET status = 'failed', last_error = ? WHERE id = ? AND status = 'pending'`),
      forJob: db.prepare('SELECT * FROM notifications WHERE job_id = ? ORDER BY id'),
      forWorkflow: db.prepare('SELECT * FROM notifications WHERE workflow_id = ? ORDER BY id'),
    };
  }

  /** Inside the terminal transition's transaction: one row per jobFinished entry of the definition. */
  enqueueJobFinished(job: FinishedJob, now: number): void {
    const list = job.notifications ?? [];
    list.forEach((n, idx) => {
      if (n.event !== 'jobFinished') return;
      const body: NotificationBody = {
        event: 'jobFinished',
        at: new Date(now).toISOString(),
        job: { id: job.id, name: job.name, status: job.status, statusReason: job.statusReason, exitCode: job.exitCode, cluster: job.cluster, workflowId: job.workflowId },
      };
      this.insert({ owner: job.owner, jobId: job.id, workflowId: null, event: n.event, eventKey: `job:${job.id}`, idx, n, body, now });
    });
  }

  /**
   * Inside the same transaction, after a job of `workflowId` ended: when no current job of the
   * workflow is left unfinished, enqueue its workflowFinished rows. A rerun makes it finish
   * again; the rerun count in the event key makes that a new event, and every further job that
   * ends after the last one (none can) would find the rows already there.
   */
  enqueueWorkflowFinishedIfDone(workflowId: number, now: number): void {
    if ((this.s.unfinished.get(workflowId) as { n: number }).n > 0) return;
    const wf = this.s.workflow.get(workflowId) as Row | undefined;
    if (!wf) return;
    const parsed = WorkflowNotificationsSchema.safeParse((JSON.parse(wf.spec as string) as { notifications?: unknown }).notifications ?? []);
    if (!parsed.success || parsed.data.length === 0) return;
    const jobs: Record<string, number> = {};
    for (const r of this.s.counts.all(workflowId) as { state: string; n: number }[]) jobs[r.state] = r.n;
    const total = Object.values(jobs).reduce((a, b) => a + b, 0);
    const status = wf.deleted_at !== null ? 'deleted' : (jobs.completed ?? 0) === total ? 'completed' : 'failed';
    const rerun = wf.reruns as number;
    const body: NotificationBody = { event: 'workflowFinished', at: new Date(now).toISOString(), workflow: { id: workflowId, name: wf.name as string, status, rerun, jobs } };
    parsed.data.forEach((n, idx) => {
      this.insert({ owner: wf.owner as string, jobId: null, workflowId, event: n.event, eventKey: `workflow:${workflowId}:${rerun}`, idx, n, body, now });
    });
  }

  private insert(a: { owner: string; jobId: number | null; workflowId: number | null; event: string; eventKey: string; idx: number; n: Notification; body: NotificationBody; now: number }): void {
    const deliveryId = randomUUID();
    this.s.insert.run({
      deliveryId,
      owner: a.owner,
      jobId: a.jobId,
      workflowId: a.workflowId,
      event: a.event,
      eventKey: a.eventKey,
      idx: a.idx,
      type: a.n.type,
      target: a.n.type === 'webhook' ? a.n.url : a.n.to,
      body: JSON.stringify({ deliveryId, ...a.body }),
      now: a.now,
    });
  }

  /** Pending rows whose next attempt is due, oldest first. */
  due(now: number, limit: number): NotificationRow[] {
    return (this.s.due.all(now, limit) as Row[]).map(toRow);
  }

  /** When the earliest pending row is due (undefined with none). */
  nextDueAt(): number | undefined {
    return ((this.s.nextDue.get() as { at: number | null }).at ?? undefined) as number | undefined;
  }

  get(id: number): NotificationRow | undefined {
    const r = this.s.get.get(id) as Row | undefined;
    return r ? toRow(r) : undefined;
  }

  /**
   * Record an attempt before it is made, pushing the row's next attempt to `leaseUntil`: a
   * daemon killed during the attempt tries again after restart once the lease is over. False if
   * the row is no longer pending.
   */
  begin(id: number, now: number, leaseUntil: number): boolean {
    return this.s.begin.run(now, leaseUntil, id).changes === 1;
  }

  delivered(id: number, now: number): void {
    this.s.delivered.run(now, id);
  }

  retryAt(id: number, at: number, error: string): void {
    this.s.retry.run(at, error, id);
  }

  failed(id: number, error: string): void {
    this.s.failed.run(error, id);
  }

  forJob(jobId: number): NotificationRow[] {
    return (this.s.forJob.all(jobId) as Row[]).map(toRow);
  }

  forWorkflow(workflowId: number): NotificationRow[] {
    return (this.s.forWorkflow.all(workflowId) as Row[]).map(toRow);
  }
}
