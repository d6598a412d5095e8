/**
 * One delivery attempt on the wire: a signed webhook POST, or one run of the sendmail program.
 * Each resolves on success and rejects with a short message (never the secret) otherwise.
 */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { signBody } from '../domain/notifications.js';

export interface WebhookAttempt {
  url: string;
  secret: string;
  event: string;
  deliveryId: string;
  body: string;
  timeoutMs: number;
  /** Certificates https receivers may chain to (the system's plus the operator's caFile); undefined: the system's. */
  ca?: string[] | undefined;
  /** Aborted when the daemon stops: the attempt is dropped and its lease brings it back after restart. */
  signal: AbortSignal;
}

/**
 * POST the body; only a 2xx answer counts (a redirect is not followed: the signature was made
 * for this receiver). A fresh connection each time (agent: false): a receiver that went away
 * and came back must not be reached through a stale pooled socket.
 */
export function postWebhook(a: WebhookAttempt): Promise<void> {
  const url = new URL(a.url);
  const timestamp = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(a.body);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      agent: false,
      ...(a.ca ? { ca: a.ca } : {}),
      headers: {
        'content-type': 'application/json',
        'content-length': payload.length,
        'user-agent': 'hpc-bridge',
        'x-hpcb-event': a.event,
        'x-hpcb-delivery': a.deliveryId,
        'x-hpcb-timestamp': String(timestamp),
        'x-hpcb-signature': signBody(a.secret, timestamp, a.body),
      },
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${a.timeoutMs / 1000} s`)), a.timeoutMs);
    a.signal.addEventListener('abort', () => req.destroy(new Error('the daemon is stopping')), { once: true });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve();
        else reject(new Error(`HTTP ${code}`));
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

/** Run `<program> -t -i` with the whole message on stdin (recipients come from its To: header). */
export function runSendmail(program: string, message: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['-t', '-i'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 500) stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    signal.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${program} ${signal ? `killed by ${signal}` : `exited with status ${code}`}${stderr ? `: ${stderr.trim().slice(0, 200)}` : ''}`));
    });
    // A sendmail that exits before reading everything would raise EPIPE here; its exit status says why.
    child.stdin.on('error', () => undefined);
    child.stdin.end(message);
  });
}
