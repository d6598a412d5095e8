/**
 * What a definition's notifications need from this daemon, checked at creation so a job never
 * runs with a notification that could not be sent: the webhook URL's scheme (https, or http to
 * loopback where the operator allowed it) and, for e-mail, a sendmail program on this host.
 */
import { accessSync, constants } from 'node:fs';
import { invalidDefinition, type FieldProblem } from '../domain/jobSpec.js';
import { webhookTargetProblem, type Notification } from '../domain/notifications.js';
import type { NotificationsConfig } from '../settings/schema.js';

/** Why the configured sendmail program cannot be run (undefined: it can). */
export function sendmailProblem(cfg: NotificationsConfig): string | undefined {
  if (cfg.sendmail === 'off') return 'e-mail notifications are turned off on this daemon (daemon.notifications.sendmail: off)';
  try {
    accessSync(cfg.sendmail, constants.X_OK);
    return undefined;
  } catch {
    return `e-mail needs a sendmail-compatible program and ${cfg.sendmail} is not an executable on the daemon's host (daemon.notifications.sendmail)`;
  }
}

/** Throws INVALID_DEFINITION naming each notification this daemon could not send. */
export function checkNotifications(list: readonly Notification[] | undefined, cfg: NotificationsConfig, what: 'job' | 'workflow'): void {
  const problems: FieldProblem[] = [];
  (list ?? []).forEach((n, i) => {
    if (n.type === 'webhook') {
      const p = webhookTargetProblem(n.url, cfg.allowHttpLoopback);
      if (p) problems.push({ field: `notifications[${i}].url`, message: p });
    } else {
      const p = sendmailProblem(cfg);
      if (p) problems.push({ field: `notifications[${i}].type`, message: p });
    }
  });
  if (problems.length) throw invalidDefinition(problems, `${what} definition`);
}
