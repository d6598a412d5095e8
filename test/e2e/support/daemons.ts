/**
 * Daemons in their own processes (support/daemon-proc.ts), for tests that kill them with
 * SIGKILL at chosen moments, and a read-only look at their database while they run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const here = dirname(fileURLToPath(import.meta.url));

/** Children still alive at the end of a file; call killAll() in afterAll. */
const children: ChildProcess[] = [];

export function startDaemon(configFile: string, count: number, prefix: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'daemon-proc.ts'), configFile, String(count), prefix], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

/** Another daemon program of this folder (e.g. daemon-burst-proc.ts) with its own arguments; stdout is piped. */
export function startDaemonScript(script: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, script), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return child;
}

export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export async function killHard(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  await new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
}

/** Jobs per state in a daemon's database; {} while it does not exist yet. */
export function countStates(dbPath: string): Record<string, number> {
  let db: Database.Database | undefined;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  } catch {
    return {}; // not created yet, or mid-migration
  } finally {
    db?.close();
  }
}
