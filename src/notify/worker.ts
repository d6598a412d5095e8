/**
 * The delivery worker: takes due rows from the outbox, records the attempt, sends, records the
 * answer. It runs beside the engine on the event loop with nothing but timers and sockets, so a
 * slow or dead receiver holds up only its own rows, never a reconciler tick.
 *
 * Guarantees (README, "Notifications"): a row is sent until one attempt succeeds or the retry
 * budget is spent; a recorded success is final (the row is no longer pending, and every update
 * here is guarded by `status = 'pending'`). A daemon killed after a POST and before recording
 * its answer sends the same delivery id again after restart: at-least-once on the wire, exactly
 * once for a receiver that drops repeated delivery ids.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { rootCertificates } from 'node:tls';
import { BridgeError } from '../domain/errors.js';
import { retryDelayMs, webhookTargetProblem, type Notification } from '../domain/notifications.js';
import type { Logger } from '../logging.js';
import type { NotificationsConfig } from '../settings/schema.js';
import type { NotificationRow } from '../store/notifications.js';
import type { Store } from '../store/store.js';
import { sendmailProblem } from './check.js';
import { emailMessage } from './message.js';
import { postWebhook, runSendmail } from './send.js';

/** With nothing due the outbox is looked at this often (a new row also wakes the worker at once). */
const IDLE_MS = 1000;

export interface WorkerOptions {
  store: Store;
  config: NotificationsConfig;
  log: Logger;
  now?: () => number;
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new BridgeError('INVALID_CONFIG', `notifications.caFile: cannot read ${file}: ${(e as Error).message}`, { context: { field: 'notifications.caFile' } });
  }
}

/** A failure that retrying cannot fix: the row is recorded as failed at once. */
class Permanent extends Error {}

export class NotificationWorker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly inflight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly now: () => number;
  private readonly ca: string[] | undefined;

  constructor(private readonly o: WorkerOptions) {
    this.now = o.now ?? Date.now;
    // Node's `ca` replaces the system's roots: keep them, and add the operator's.
    this.ca = o.config.caFile ? [...rootCertificates, readCa(o.config.caFile)] : undefined;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Look at the outbox now (a job just ended). */
  kick(): void {
    if (!this.stopped) this.schedule(0);
  }

  /**
   * Stop taking rows and cut the attempts under way: a shutdown never waits for a slow receiver.
   * A cut attempt stays pending and is made again after the restart (same delivery id).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopping.abort();
    await Promise.allSettled([...this.inflight]);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }

  private tick(): void {
    if (this.stopped || !this.o.store.isOpen) return;
    const now = this.now();
    const free = this.o.config.concurrency - this.inflight.size;
    if (free > 0) for (const row of this.o.store.notifications.due(now, free)) this.attempt(row, now);
    const next = this.o.store.notifications.nextDueAt();
    this.schedule(next === undefined ? IDLE_MS : Math.min(IDLE_MS, Math.max(0, next - this.now())));
  }

  private attempt(row: NotificationRow, now: number): void {
    const timeoutMs = this.o.config.timeoutSeconds * 1000;
    // The lease: if this process dies mid-attempt, the row is due again after it.
    if (!this.o.store.notifications.begin(row.id, now, now + timeoutMs + 1000)) return;
    const attempt = row.attempts + 1;
    const p = this.send(row, timeoutMs)
      .then(
        () => this.settle(() => this.o.store.notifications.delivered(row.id, this.now())),
        // An attempt cut by stop() is not the receiver's failure: it stays pending as it is.
        (e: unknown) => {
          if (!this.stopping.signal.aborted) this.settle(() => this.failedAttempt(row, attempt, e));
        },
      )
      .finally(() => {
        this.inflight.delete(p);
        this.kick();
      });
    this.inflight.add(p);
  }

  /** Record an answer unless the daemon closed the store meanwhile (the lease brings the row back). */
  private settle(record: () => void): void {
    if (this.o.store.isOpen) record();
  }

  private failedAttempt(row: NotificationRow, attempt: number, e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    const r = this.o.config.retry;
    const where = { deliveryId: row.deliveryId, jobId: row.jobId ?? undefined, workflowId: row.workflowId ?? undefined, type: row.type, attempt };
    if (e instanceof Permanent || attempt >= r.maxAttempts) {
      this.o.store.notifications.failed(row.id, e instanceof Permanent ? msg : `${msg} (gave up after ${attempt} attempts)`);
      this.o.log.warn({ ...where, error: msg }, 'notification failed for good');
      return;
    }
    const delay = retryDelayMs(attempt, r.initialDelaySeconds * 1000, r.maxDelaySeconds * 1000);
    this.o.store.notifications.retryAt(row.id, this.now() + delay, msg);
    this.o.log.info({ ...where, error: msg, retryInMs: delay }, 'notification attempt failed; will retry');
  }

  private async send(row: NotificationRow, timeoutMs: number): Promise<void> {
    const n = this.definitionOf(row);
    if (!n || n.type !== row.type) throw new Permanent('the notification is no longer in its definition');
    if (n.type === 'webhook') {
      const p = webhookTargetProblem(n.url, this.o.config.allowHttpLoopback);
      if (p) throw new Permanent(`url ${p}`);
      return postWebhook({ url: n.url, secret: n.secret, event: row.event, deliveryId: row.deliveryId, body: row.body, timeoutMs, ca: this.ca, signal: this.stopping.signal });
    }
    const p = sendmailProblem(this.o.config);
    if (p) throw new Error(p);
    const from = this.o.config.from ?? `hpc-bridge@${hostname()}`;
    return runSendmail(this.o.config.sendmail, emailMessage({ from, to: n.to, deliveryId: row.deliveryId, body: row.body }), timeoutMs, this.stopping.signal);
  }

  /** The entry of the job's or workflow's definition this row delivers (it holds the secret). */
  private definitionOf(row: NotificationRow): Notification | undefined {
    if (row.jobId !== null) return this.o.store.get(row.jobId)?.spec.notifications?.[row.index];
    if (row.workflowId !== null) return (this.o.store.getWorkflow(row.workflowId)?.spec as { notifications?: Notification[] } | undefined)?.notifications?.[row.index];
    return undefined;
  }
}
