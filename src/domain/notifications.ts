/**
 * Notifications a job or a workflow asks for when it ends: the definition's `notifications`
 * list, what the daemon sends (one JSON body per event, the same for webhooks and e-mail) and
 * how a webhook body is signed. No I/O here: the store enqueues, src/notify delivers.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';

export const JOB_EVENTS = ['jobFinished'] as const;
export const WORKFLOW_EVENTS = ['workflowFinished'] as const;
export type NotificationEvent = (typeof JOB_EVENTS)[number] | (typeof WORKFLOW_EVENTS)[number];

/** At most this many notifications per job or workflow: each one is a row and a delivery per event. */
export const MAX_NOTIFICATIONS = 10;
/** Shown instead of a webhook secret wherever a definition is read back. */
export const REDACTED = '[redacted]';

// An address a sendmail program takes as one recipient: no spaces, commas, angle brackets or
// line breaks, so it can never add a header or a second recipient to the message.
const EMAIL_RE = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

function urlProblem(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return 'must be an absolute URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'must be an https:// URL';
  if (u.username || u.password) return 'must not carry a user name or password (the body is signed with the secret instead)';
  return undefined;
}

const webhook = <E extends readonly [string, ...string[]]>(events: E) =>
  z.strictObject({
    event: z.enum(events),
    type: z.literal('webhook'),
    url: z
      .string()
      .max(2048)
      .superRefine((v, ctx) => {
        const p = urlProblem(v);
        if (p) ctx.addIssue({ code: 'custom', message: p });
      }),
    /** The HMAC-SHA256 key of the signature header; only the receiver and the daemon know it. */
    secret: z.string().min(16, 'must be at least 16 characters').max(512).refine((v) => !/[\0\n\r]/.test(v), 'must not contain NUL or newlines'),
  });

const email = <E extends readonly [string, ...string[]]>(events: E) =>
  z.strictObject({
    event: z.enum(events),
    type: z.literal('email'),
    to: z.string().max(254).regex(EMAIL_RE, 'must be one e-mail address (user@host)'),
  });

const list = <E extends readonly [string, ...string[]]>(events: E) =>
  z.array(z.discriminatedUnion('type', [webhook(events), email(events)])).max(MAX_NOTIFICATIONS, `at most ${MAX_NOTIFICATIONS} notifications`);

export const JobNotificationsSchema = list(JOB_EVENTS);
export const WorkflowNotificationsSchema = list(WORKFLOW_EVENTS);
export type Notification = z.infer<typeof JobNotificationsSchema>[number] | z.infer<typeof WorkflowNotificationsSchema>[number];

/**
 * Where the daemon may send a webhook. https always; plain http only to a loopback host and
 * only when the operator allowed it (daemon.notifications.allowHttpLoopback, meant for tests
 * and a receiver on the same host): a signed body over plain http elsewhere would leak it.
 */
export function webhookTargetProblem(url: string, allowHttpLoopback: boolean): string | undefined {
  const u = new URL(url);
  if (u.protocol === 'https:') return undefined;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!loopback) return 'must be an https:// URL (plain http is never sent off this host)';
  if (!allowHttpLoopback) return 'must be an https:// URL (plain http to a loopback address needs daemon.notifications.allowHttpLoopback: true)';
  return undefined;
}

/** A definition with every webhook secret replaced by REDACTED (what the API shows). */
export function redactSecrets<T extends { notifications?: readonly Notification[] | undefined }>(spec: T): T {
  if (!spec.notifications?.some((n) => n.type === 'webhook')) return spec;
  return { ...spec, notifications: spec.notifications.map((n) => (n.type === 'webhook' ? { ...n, secret: REDACTED } : n)) };
}

/** The body of a jobFinished notification (without the delivery id, added per row). */
export interface JobFinishedBody {
  event: 'jobFinished';
  at: string;
  job: { id: number; name: string; status: string; statusReason: string | null; exitCode: number | null; cluster: string; workflowId: number | null };
}

/** The body of a workflowFinished notification. */
export interface WorkflowFinishedBody {
  event: 'workflowFinished';
  at: string;
  workflow: { id: number; name: string; status: 'completed' | 'failed' | 'deleted'; rerun: number; jobs: Record<string, number> };
}

export type NotificationBody = JobFinishedBody | WorkflowFinishedBody;

/**
 * The signature header's value: HMAC-SHA256 over `<timestamp>.<body>` with the secret, hex.
 * The timestamp is inside what is signed so a captured request cannot be replayed later with a
 * fresh one; the receiver recomputes it over the exact bytes it received.
 */
export function signBody(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Backoff before attempt `attempt + 1`: doubling from `initialMs` up to `maxMs`, then jittered into [half, whole]. */
export function retryDelayMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const whole = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(whole / 2 + (whole / 2) * random());
}
