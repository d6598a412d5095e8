/**
 * Runs rendered batch scripts with the local bash, in a fresh temporary job directory, the way a
 * scheduler would (`bash job.sh` with the scheduler's variables in the environment).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ScriptRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function makeJobDir(prefix = 'hpcb-runner-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C', ...extra };
}

/** Write `script` next to the job directory (not inside it) and run it to the end. */
export function runScript(script: string, env: Record<string, string> = {}, timeoutMs = 20_000): ScriptRun {
  const holder = mkdtempSync(join(tmpdir(), 'hpcb-script-'));
  const path = join(holder, 'job.sh');
  writeFileSync(path, script);
  try {
    const r = spawnSync('bash', [path], { env: baseEnv(env), encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  } finally {
    removeDir(holder);
  }
}

/** Start the script, wait until `ready()` holds, send `signal` to bash only, and wait for it to end. */
export async function runScriptAndSignal(
  script: string,
  ready: () => boolean,
  signal: NodeJS.Signals,
  env: Record<string, string> = {},
): Promise<ScriptRun & { signalledAfterMs: number }> {
  const holder = mkdtempSync(join(tmpdir(), 'hpcb-script-'));
  const path = join(holder, 'job.sh');
  writeFileSync(path, script);
  const child = spawn('bash', [path], { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const started = Date.now();
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (status, sig) => resolve({ status, signal: sig })),
  );
  try {
    while (!ready()) {
      if (Date.now() - started > 15_000) throw new Error(`script never became ready; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const signalledAfterMs = Date.now() - started;
    child.kill(signal);
    const r = await done;
    return { ...r, stdout, stderr, signalledAfterMs };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    removeDir(holder);
  }
}

export function read(dir: string, rel: string): string {
  return readFileSync(join(dir, rel), 'utf8');
}

export function exists(dir: string, rel: string): boolean {
  return existsSync(join(dir, rel));
}

/** Whether a process is still alive (zombies count as gone). */
export function alive(pid: number): boolean {
  const r = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  const stat = r.stdout.trim();
  return stat !== '' && !stat.startsWith('Z');
}
