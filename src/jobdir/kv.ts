/**
 * A job's side of the key-value store, in its directory:
 *
 *   .hpcb/kv/hpcb-kv          the in-job helper (programs/hpcb-kv.sh), staged at stage-in
 *   .hpcb/kv/token            the job's credential, only where the cluster reaches the daemon
 *   .hpcb/kv/req/<id>/        a relayed request (op, key, value), renamed into place whole
 *   .hpcb/kv/res/<id>/        its answer (status, body), renamed into place whole
 *
 * `<id>` is `<epoch ns>.<pid>.<random>`, written by the helper: digits and dots only, so it
 * sorts by time and is safe as a file name. This module names those files, builds the argv of
 * the programs that install the helper and relay requests, and parses what the scan prints.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { HPCB_DIR } from './layout.js';
import { programArgv } from './programs.js';

export const KV_DIR = `${HPCB_DIR}/kv`;
export const KV_HELPER = 'hpcb-kv';
export const KV_TOKEN = 'token';

/** The helper's text (the same for every job). */
export const KV_HELPER_TEXT = readFileSync(new URL('./programs/hpcb-kv.sh', import.meta.url), 'utf8');

/** How jobs on a cluster reach the store: the daemon's URL, or (absent) the relay. */
export interface KvFromJobs {
  daemonUrl?: string;
}

/**
 * The environment a job's tasks get: where the helper is, and either the daemon's URL with
 * the path of the credential file (never the credential), or the relay directory.
 */
export function kvJobEnv(jobDir: string, access: KvFromJobs): Record<string, string> {
  const dir = posix.join(jobDir, KV_DIR);
  const env: Record<string, string> = { HPCB_KV: posix.join(dir, KV_HELPER) };
  if (access.daemonUrl) {
    env.HPCB_KV_URL = access.daemonUrl;
    env.HPCB_KV_TOKEN_FILE = posix.join(dir, KV_TOKEN);
  } else {
    env.HPCB_KV_DIR = dir;
  }
  return env;
}

/** Installs the helper in `jobDir`; the credential (or '' for none) goes on the program's stdin. */
export function kvInstallProgram(jobDir: string): string[] {
  return programArgv('kv-install', [posix.join(jobDir, KV_DIR), KV_HELPER_TEXT, KV_HELPER, KV_TOKEN]);
}

export function kvScanProgram(maxValueBytes: number, maxRequests: number, jobDirs: readonly string[]): string[] {
  return programArgv('kv-scan', [String(maxValueBytes), String(maxRequests), ...jobDirs]);
}

/** The answers go on stdin, one line each (kvAnswerLine). */
export function kvAnswerProgram(jobDirs: readonly string[]): string[] {
  return programArgv('kv-answer', [...jobDirs]);
}

export type KvOp = 'get' | 'set' | 'delete' | 'list' | 'unknown';

export interface KvRequest {
  /** Index into the job directories the scan was given. */
  job: number;
  id: string;
  op: KvOp;
  key: string;
  /** The value of a set: its bytes, `{ tooLarge: size }` when the scan did not send it, or undefined. */
  value: Buffer | { tooLarge: number } | undefined;
}

const LINE = /^@@HPCB-KV (\d+) ([0-9.]+) (get|set|delete|list|unknown) b:([A-Za-z0-9+/=]*) (-|\+\d+|b:[A-Za-z0-9+/=]*)$/;

/** The requests a scan printed; lines that are not requests are ignored. */
export function parseKvScan(stdout: string): KvRequest[] {
  const out: KvRequest[] = [];
  for (const line of stdout.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const v = m[5]!;
    const value = v === '-' ? undefined : v.startsWith('+') ? { tooLarge: Number(v.slice(1)) } : Buffer.from(v.slice(2), 'base64');
    out.push({ job: Number(m[1]), id: m[2]!, op: m[3] as KvOp, key: Buffer.from(m[4]!, 'base64').toString('utf8'), value });
  }
  return out;
}

/** One answer for kv-answer.sh. */
export function kvAnswerLine(job: number, id: string, status: number, body: Buffer): string {
  return `${job} ${id} ${status} ${body.length ? body.toString('base64') : '-'}\n`;
}
