/**
 * The e-mail form of a notification body: a plain-text message for `sendmail -t`. Every header
 * value comes from fields the definitions restrict (names, statuses, a validated address), so
 * no user string can add a header line.
 */
import type { NotificationBody } from '../domain/notifications.js';

export function emailMessage(a: { from: string; to: string; deliveryId: string; body: string }): string {
  const b = JSON.parse(a.body) as NotificationBody;
  let subject: string;
  let summary: string[];
  if (b.event === 'jobFinished') {
    const j = b.job;
    subject = `hpc-bridge: job ${j.id}${j.name ? ` (${j.name})` : ''} ${j.status}`;
    summary = [`Job ${j.id}${j.name ? ` "${j.name}"` : ''} on ${j.cluster} ended: ${j.status}${j.statusReason ? ` (${j.statusReason.replace(/\s+/g, ' ')})` : ''}.`, `Exit code: ${j.exitCode ?? 'none'}`];
  } else {
    const w = b.workflow;
    subject = `hpc-bridge: workflow ${w.id}${w.name ? ` (${w.name})` : ''} ${w.status}`;
    summary = [`Workflow ${w.id}${w.name ? ` "${w.name}"` : ''} ended: ${w.status}.`, `Jobs: ${Object.entries(w.jobs).map(([s, n]) => `${n} ${s}`).join(', ')}`];
  }
  return [
    `From: ${a.from}`,
    `To: ${a.to}`,
    `Subject: ${subject}`,
    `X-Hpcb-Event: ${b.event}`,
    `X-Hpcb-Delivery: ${a.deliveryId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    ...summary,
    '',
    a.body,
    '',
  ].join('\n');
}
