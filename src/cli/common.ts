/**
 * Small helpers every command uses: the client from --url/--token, printing, and argument checks
 * that fail with the usage exit code.
 */
import { Command, CommanderError } from 'commander';
import { Client } from '../client/index.js';
import { EXIT } from './exitCodes.js';

/** `exit` carries an action's exit code (wait, run --wait) back to `main`. */
export interface CliStatus {
  exit: number;
}

export const collect = (v: string, prev: string[] = []) => [...prev, v];

export function clientFrom(cmd: Command): Client {
  const o = cmd.optsWithGlobals<{ url?: string; token?: string }>();
  return new Client({ ...(o.url ? { url: o.url } : {}), ...(o.token ? { token: o.token } : {}) });
}

export function jobId(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `not a job id: ${s}`);
  return n;
}

export function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

export function json(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

export function parseKv(list: string[] | undefined, what: string): Record<string, string> | undefined {
  if (!list?.length) return undefined;
  const r: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `${what} must look like KEY=VALUE: ${kv}`);
    r[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return r;
}

export function workflowId(s: string | undefined): number {
  const n = Number(s);
  if (s === undefined || !Number.isInteger(n) || n < 1) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `not a workflow id: ${s ?? '(missing)'}`);
  return n;
}

/** `describe workflow 3`, `delete workflows 3 4`: the first word names the kind, ids follow. */
export const isWorkflowWord = (w: string | undefined) => w === 'workflow' || w === 'workflows' || w === 'wf';

export const num = (v: string | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `--${what} must be a number: ${v}`);
  return n;
};
