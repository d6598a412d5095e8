/**
 * The SDK as a laptop gets it: `npm run pack:client` builds a tarball; it installs offline into
 * an empty directory with no native build and no ssh2/better-sqlite3, and a plain .mjs script
 * using it runs a job against a live daemon.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');
let d: Daemon | undefined;
afterAll(async () => d?.close());

describe('client package', { timeout: 300_000 }, () => {
  it('installs from the packed tarball without native builds and runs a job', async () => {
    const out = execFileSync('node', ['src/client/pack-client.mjs'], { cwd: root, encoding: 'utf8' });
    const tarball = out.trim().split('\n').at(-1)!;
    expect(existsSync(tarball)).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), 'hpcb-sdk-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'laptop', private: true, type: 'module' }));
    const install = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts=false', '--foreground-scripts', tarball], { cwd: dir, encoding: 'utf8' });
    expect(install.status, install.stderr).toBe(0);
    expect(`${install.stdout}${install.stderr}`).not.toMatch(/node-gyp|gyp info|prebuild-install/);
    const modules = readdirSync(join(dir, 'node_modules')).filter((n) => !n.startsWith('.'));
    expect(modules).toEqual(['@hpc-bridge']);
    expect(readdirSync(join(dir, 'node_modules/@hpc-bridge'))).toEqual(['client']);
    for (const native of ['ssh2', 'better-sqlite3', 'zod', 'cpu-features']) expect(existsSync(join(dir, 'node_modules', native))).toBe(false);

    d = await startDaemon();
    writeFileSync(
      join(dir, 'run.mjs'),
      `import { Job, Task, InputFile } from '@hpc-bridge/client';
const job = new Job({ name: 'from-tarball', tasks: [new Task('cat greeting.txt')] });
job.inputFiles.push(new InputFile('greeting.txt', 'hello from the tarball'));
await job.create();
const done = await job.wait({ timeout: 120 });
console.log(JSON.stringify({ status: done.status, stdout: await job.stdout() }));
`,
    );
    // Asynchronously: the daemon runs in this process and must keep answering meanwhile.
    const run = await promisify(execFile)('node', ['run.mjs'], { cwd: dir, encoding: 'utf8', env: { ...process.env, HPC_BRIDGE_URL: d.url, HPC_BRIDGE_TOKEN: d.tokens.alice } });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ status: 'completed', stdout: 'hello from the tarball' });
  });
});
