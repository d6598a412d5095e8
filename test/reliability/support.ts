/**
 * Shared pieces of the fault-injection tests: checks every fault test ends with (database
 * integrity, no job in an impossible state), counting what the scheduler really ran by the
 * bridge's tag, command shims on the login node, and the per-test JSON summary that
 * docs/RELIABILITY.md quotes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createTransport } from '../../src/transport/index.js';
import { transportOptions } from '../../src/bridge.js';
import type { ClusterConfig } from '../../src/settings/schema.js';
import type { ExecOptions, Transport } from '../../src/transport/transport.js';
import type { ClusterEnv } from '../cluster/env.js';
import { onLogin } from '../e2e/support/lab.js';
import { pbsServerJobs } from '../e2e/support/openpbs.js';

const here = dirname(fileURLToPath(import.meta.url));

export const TERMINAL = ['completed', 'failed', 'killed', 'deleted'] as const;

export interface DbCheck {
  integrity: string;
  /** One line per job whose row contradicts itself or its event log. */
  impossible: string[];
}

/**
 * `PRAGMA integrity_check` plus the invariants a crash or a fault must never break:
 *  - the job's state is the `to_state` of its last event (a state without its event, or the
 *    reverse, means a transition was torn);
 *  - a job that ran on the scheduler and ended completed/failed/killed has its outcome recorded;
 *  - `completed` means exit code 0 and a recorded outcome of completed;
 *  - a terminal job has an end time.
 */
export function checkDb(dbPath: string): DbCheck {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
    const rows = db
      .prepare(
        `SELECT j.id, j.state, j.exit_code, j.outcome, j.native_id, j.ended_at, j.kind,
                (SELECT to_state FROM job_events e WHERE e.job_id = j.id ORDER BY e.id DESC LIMIT 1) AS last_event
           FROM jobs j`,
      )
      .all() as { id: number; state: string; exit_code: number | null; outcome: string | null; native_id: string | null; ended_at: number | null; kind: string | null; last_event: string | null }[];
    const impossible: string[] = [];
    for (const r of rows) {
      const say = (what: string) => impossible.push(`job ${r.id} (${r.state}): ${what}`);
      if (r.last_event !== null && r.last_event !== r.state) say(`last event went to ${r.last_event}`);
      const terminal = (TERMINAL as readonly string[]).includes(r.state);
      if (terminal && r.ended_at === null) say('terminal without an end time');
      if (r.kind === 'array') continue;
      if (r.state === 'completed') {
        if (r.exit_code !== 0) say(`completed with exit code ${String(r.exit_code)}`);
        const o = r.outcome ? (JSON.parse(r.outcome) as { status?: string }) : null;
        if (o?.status !== 'completed') say(`completed but its outcome is ${r.outcome ?? 'missing'}`);
      }
      if ((r.state === 'failed' || r.state === 'killed') && r.native_id !== null && r.outcome === null) say('ended on the scheduler without a recorded outcome');
    }
    return { integrity, impossible };
  } finally {
    db.close();
  }
}

/** The database instance id (the `hb<instance>-` part of every tag this daemon gives its jobs). */
export function dbInstance(dbPath: string): string {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT value FROM meta WHERE key = 'instance'").get() as { value: string }).value;
  } finally {
    db.close();
  }
}

export interface SchedulerJob {
  tag: string;
  jobId: number;
  attempt: number;
  nativeId: string;
  state: string;
  exitCode: string;
}

/**
 * Every scheduler job of the cluster user whose name carries this database's tag, from Slurm
 * accounting (sacct -X: allocations only, so a job counts once whatever its steps). A submit
 * that ran twice shows up here as two rows for one bridge job, even if the bridge only knows one.
 */
export async function schedulerJobsByTag(env: ClusterEnv, instance: string): Promise<SchedulerJob[]> {
  const out = await onLogin(env, 'sacct -n -X -P -S now-6hours -o JobName%80,JobID,State,ExitCode');
  const jobs: SchedulerJob[] = [];
  for (const line of out.split('\n')) {
    const [name, nativeId, state, exitCode] = line.split('|');
    const tag = name ? readTag(name.trim(), instance) : undefined;
    if (!tag) continue;
    jobs.push({ tag: name!.trim(), jobId: tag.jobId, attempt: tag.attempt, nativeId: nativeId!, state: state!, exitCode: exitCode ?? '' });
  }
  return jobs;
}

/**
 * The same count on the real OpenPBS server, from its own history (`qstat -x -f -F json` read with
 * JSON.parse, test/e2e/support/openpbs.ts): one row per submission, however often the server ran
 * it (`run_count` is in `exitCode`'s place as `runs=N`, for messages).
 */
export async function pbsJobsByTag(env: ClusterEnv, instance: string): Promise<SchedulerJob[]> {
  const jobs: SchedulerJob[] = [];
  for (const s of await pbsServerJobs(env)) {
    const tag = readTag(s.name, instance);
    if (tag) jobs.push({ tag: s.name, jobId: tag.jobId, attempt: tag.attempt, nativeId: s.nativeId, state: s.state, exitCode: `${s.exitStatus ?? ''} runs=${s.runCount}` });
  }
  return jobs;
}

/**
 * The bridge job and attempt a scheduler job name stands for, if it carries this instance's tag:
 * `hb<instance>-<job>-<attempt>`, or the short form a Torque server with a 15-character name
 * limit gets (`hc` + the instance in base 36 over 5 characters + job and attempt in base 36).
 * Decoded here on its own, not with the adapter's function: the harness must not share the
 * code whose mistakes it counts.
 */
export function readTag(name: string, instance: string): { jobId: number; attempt: number } | undefined {
  const long = /^hb([0-9a-f]{6})-(\d+)-(\d+)$/.exec(name);
  if (long) return long[1] === instance ? { jobId: Number(long[2]), attempt: Number(long[3]) } : undefined;
  const short = /^hc([0-9a-z]{5})([0-9a-z]+)-([0-9a-z]+)$/.exec(name);
  if (short && parseInt(short[1]!, 36) === parseInt(instance, 16)) return { jobId: parseInt(short[2]!, 36), attempt: parseInt(short[3]!, 36) };
  return undefined;
}

/** Bridge jobs with more than one scheduler job (any attempt), and bridge jobs with none. */
export function duplicatesAndMissing(bridgeJobIds: number[], sched: SchedulerJob[]): { duplicates: number[]; missing: number[] } {
  const per = new Map<number, number>();
  for (const s of sched) per.set(s.jobId, (per.get(s.jobId) ?? 0) + 1);
  return {
    duplicates: bridgeJobIds.filter((id) => (per.get(id) ?? 0) > 1),
    missing: bridgeJobIds.filter((id) => !per.has(id)),
  };
}

/** Write test/reliability/.last-run/<name>.json (figures docs/RELIABILITY.md quotes). */
export function writeSummary(name: string, figures: Record<string, unknown>): void {
  const dir = join(here, '.last-run');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ test: name, finishedAt: new Date().toISOString(), ...figures }, null, 2)}\n`);
}

/** Write test/reliability/.last-run/<name>.log (a daemon's log lines, for reading a failure). */
export function writeLog(name: string, lines: string[]): void {
  const dir = join(here, '.last-run');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.log`), lines.join(''));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ------------------------------------------------------------------ command shims on the login node

/**
 * A directory on the login node holding stand-ins for scheduler commands. Each shim runs the
 * real command unless a control file next to it says otherwise:
 *   <cmd>.hang   sleep for an hour first (a controller that accepts the connection but never
 *                answers; the daemon's command timeout has to kill it)
 *   <cmd>.empty  print nothing and succeed (accounting that has no record of anything)
 *   <cmd>.hide   filter out output lines holding any of the words listed in the file (a job
 *                the scheduler has forgotten)
 * The daemon finds the shims because every command it runs gets PATH with this directory first
 * (see shimmedTransport); nothing on the cluster changes for anyone else.
 */
export class Shims {
  constructor(readonly env: ClusterEnv, readonly dir: string) {}

  static async install(env: ClusterEnv, dir: string, commands: string[]): Promise<Shims> {
    const script = [
      '#!/bin/bash',
      'd=${0%/*}; n=${0##*/}',
      'if [ -e "$d/$n.hang" ]; then sleep 3600; fi',
      'if [ -e "$d/$n.empty" ]; then exit 0; fi',
      'if [ -s "$d/$n.hide" ]; then "/usr/bin/$n" "$@" | grep -v -w -F -f "$d/$n.hide"; exit "${PIPESTATUS[0]}"; fi',
      'exec "/usr/bin/$n" "$@"',
    ].join('\n');
    const b64 = Buffer.from(`${script}\n`).toString('base64');
    const cmds = commands.map((c) => `echo ${b64} | base64 -d > '${dir}/${c}' && chmod 755 '${dir}/${c}'`).join(' && ');
    await onLogin(env, `mkdir -p '${dir}' && rm -f '${dir}'/*.hang '${dir}'/*.empty '${dir}'/*.hide && ${cmds}`);
    return new Shims(env, dir);
  }

  async set(command: string, mode: 'hang' | 'empty' | 'hide', words: string[] = []): Promise<void> {
    const body = mode === 'hide' ? words.join('\n') : '';
    await onLogin(this.env, `printf '%s\\n' '${body}' > '${this.dir}/${command}.${mode}'`);
  }

  async clear(command: string, mode: 'hang' | 'empty' | 'hide'): Promise<void> {
    await onLogin(this.env, `rm -f '${this.dir}/${command}.${mode}'`);
  }

  async clearAll(): Promise<void> {
    await onLogin(this.env, `rm -f '${this.dir}'/*.hang '${this.dir}'/*.empty '${this.dir}'/*.hide`);
  }
}

/**
 * The cluster's real SSH transport, except that every command runs with `dir` first on PATH,
 * so the shims above stand in for squeue/sbatch/sacct. Only PATH is added: argv, timeouts and
 * the file operations are the real transport's.
 */
export function shimmedTransport(cluster: ClusterConfig, dir: string): Transport {
  const real = createTransport(transportOptions(cluster));
  const path = `${dir}:/usr/local/bin:/usr/bin:/bin`;
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'exec') {
        return (argv: readonly string[], opts: ExecOptions = {}) => target.exec(argv, { ...opts, env: { ...(opts.env ?? {}), PATH: path } });
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
