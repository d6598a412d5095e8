/**
 * The README's quick start, run as written: build, `serve` on the embedded default (no config
 * file: the `direct` adapter on this machine, API on 127.0.0.1:8742), then the README's second
 * block (token, a one-line job with --wait, list, stdout) in a bash that has the README's alias.
 *
 * The commands are read from README.md itself, so the README cannot drift from what works.
 * Two deliberate differences from a fresh machine: `npm ci` is not re-run (the test command
 * has just run it, and reinstalling node_modules under a running vitest would pull files from
 * under it), and HPCB_DATA_DIR points at a temporary directory so the suite never writes the
 * real /var/lib/hpc-bridge of the machine it runs on.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from './support/lab.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

let daemon: ChildProcess | undefined;
let log = '';
const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-quickstart-'));

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon!.once('exit', r));
  }
  rmSync(dataDir, { recursive: true, force: true });
  // Run as root, the embedded default keeps each account's scratch beside the data directory.
  rmSync(`${dataDir}.scratch`, { recursive: true, force: true });
});

describe("the README's quick start", () => {
  it('serves the embedded default and runs a job end to end through `direct`', async () => {
    // Block 1: `npm ci && npm run build && node dist/src/cli/main.js serve`.
    const install = blocks[0]!.split('\n').find((l) => l.startsWith('npm ci && '));
    expect(install, 'README block 1 has the install-and-serve line').toBeDefined();
    const steps = install!.split(' && ');
    expect(steps[0]).toBe('npm ci');
    // Without $USER (unset in many containers and cron shells): the README must not need it.
    const { USER: _user, ...inherited } = process.env;
    const env = { ...inherited, HPCB_DATA_DIR: dataDir, HPC_BRIDGE_TOKEN: '', HPCB_CONFIG: '' };
    for (const step of steps.slice(1, -1)) {
      const r = spawnSync('bash', ['-c', step], { cwd: ROOT, env, encoding: 'utf8' });
      expect(r.status, `${step}\n${r.stdout}${r.stderr}`).toBe(0);
    }
    daemon = spawn('bash', ['-c', `exec ${steps.at(-1)}`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    daemon.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    await until(
      'the daemon answers /healthz on 127.0.0.1:8742',
      async () => {
        if (daemon!.exitCode !== null) throw new Error(`daemon exited ${daemon!.exitCode}:\n${log}`);
        const r = await fetch('http://127.0.0.1:8742/api/v1/healthz').catch(() => undefined);
        return r?.ok ? true : undefined;
      },
      60_000,
    );

    // Block 2 as written, with the job id the `run` line printed standing in for `<id>`.
    const lines = blocks[1]!.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    const script = [
      'set -euo pipefail',
      'shopt -s expand_aliases',
      ...lines.map((l) => {
        const cmd = l.replace(/\s+#.*$/, '');
        // A person reads the id off "Job created with id N"; the script does the same.
        if (/^hpc-bridge run /.test(cmd)) return `out=$(${cmd}); echo "$out"; id=$(grep -oE '[0-9]+' <<<"$out" | head -1); echo "job=$id"`;
        return cmd.replace('<id>', '"$id"');
      }),
    ].join('\n');
    // Not spawnSync: a blocked event loop would stop draining the daemon's stdout pipe.
    const r = await runBash(script, env);
    expect(r.status, `${script}\n--- out\n${r.stdout}\n--- err\n${r.stderr}\n--- daemon\n${log}`).toBe(0);
    const id = /job=(\d+)/.exec(r.stdout)?.[1];
    expect(id, r.stdout).toBeDefined();
    // `list --all` shows the job completed; `stdout <id>` prints what it echoed.
    expect(r.stdout).toMatch(new RegExp(`^\\s*${id}\\b.*completed`, 'm'));
    expect(r.stdout.trimEnd().endsWith('hello from a job')).toBe(true);
    // The daemon logged the job's state changes and stayed up.
    expect(daemon.exitCode).toBeNull();
    await until('the daemon logged the job reaching completed', () => (/"to":"completed"/.test(log) ? true : undefined), 10_000);
  });
});

function runBash(script: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', ['-c', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 180_000);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
