/**
 * A Bridge on the `direct` adapter and the local transport: real processes and files, no
 * scheduler, so the staging code runs end to end in a second.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { Bridge, type BridgeOptions } from '../../../src/bridge.js';
import { jobDirFor } from '../../../src/jobdir/layout.js';
import { silentLogger } from '../../../src/logging.js';
import { buildSettings } from '../../../src/settings/load.js';
import type { JobRecord } from '../../../src/store/store.js';

export interface Opened {
  bridge: Bridge;
  dataDir: string;
  scratchRoot: string;
}

const open: Bridge[] = [];

export function openBridge(limits: Record<string, number> = {}, opts: BridgeOptions = {}, dataDir = mkdtempSync(join(tmpdir(), 'hpcb-staging-'))): Opened {
  const scratchRoot = join(dataDir, 'scratch');
  const settings = buildSettings({ dataDir, limits }, [
    { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot, pollIntervalSeconds: 0.2, lostGraceSeconds: 2 } },
  ]);
  const bridge = Bridge.open(settings, { logger: silentLogger(), ...opts });
  bridge.start();
  open.push(bridge);
  return { bridge, dataDir, scratchRoot };
}

export async function closeAll(): Promise<void> {
  while (open.length) await open.pop()!.close();
}

export function jobDir(b: Bridge, id: number): string {
  return jobDirFor(b.reconciler('here')!.rt.scratchRoot, b.store.instanceId(), id);
}

export function jobFile(b: Bridge, id: number, rel: string): string {
  return readFileSync(posix.join(jobDir(b, id), rel), 'utf8');
}

export function b64(s: string | Buffer): string {
  return Buffer.from(s).toString('base64');
}

export function body(data: string | Buffer): Readable {
  return Readable.from([Buffer.from(data)]);
}

export async function runJob(b: Bridge, def: unknown, owner = 'alice'): Promise<JobRecord> {
  const { job } = b.submit(owner, def);
  const done = await b.wait(job.id, 60_000);
  if (!['completed', 'failed', 'killed', 'deleted'].includes(done.status)) throw new Error(`job ${job.id} not terminal: ${done.state} ${done.statusReason} ${done.lastError}`);
  return done;
}

export async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Poll until `fn` is truthy (a condition, not a timing assertion); throws after `ms`. */
export async function until<T>(what: string, fn: () => T | Promise<T>, ms = 30_000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
