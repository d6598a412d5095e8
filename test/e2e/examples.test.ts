/**
 * The seed tutorial in examples/ run end to end, as a user runs it (`tsx examples/NN-*.ts`
 * with HPC_BRIDGE_URL/HPC_BRIDGE_TOKEN), against a live daemon: first on the `direct` cluster
 * (fast, no scheduler), then on the real Slurm test cluster over SSH. Each example prints one
 * JSON line of results, checked here.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Workflow } from '../../src/client/index.js';
import { startDaemon, type Daemon } from '../api/helpers.js';
import { labSettings } from './support/lab.js';

const root = resolve(import.meta.dirname, '../..');
const pexec = promisify(execFile);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each example prints its own JSON shape
async function example(d: Daemon, file: string, args: string[] = []): Promise<any> {
  // Asynchronous on purpose: the daemon lives in this process and must keep serving.
  const { stdout } = await pexec(process.execPath, ['--import', 'tsx', join(root, 'examples', file), ...args], {
    cwd: root,
    env: { ...process.env, HPC_BRIDGE_URL: d.url, HPC_BRIDGE_TOKEN: d.tokens.alice },
    maxBuffer: 16 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

const sumTo = (n: number) => (n * (n + 1)) / 2;

function tutorial(name: string, open: () => Promise<Daemon>) {
  describe(name, { timeout: 600_000 }, () => {
    let d: Daemon;
    afterAll(async () => d?.close());

    it('runs every step of the seed tutorial and gets the right numbers', async () => {
      d = await open();
      expect(await example(d, '01-parameter.ts', ['10', '200'])).toEqual({
        'simulate-10': `steps 10 result ${sumTo(10)}`,
        'simulate-200': `steps 200 result ${sumTo(200)}`,
      });
      expect(await example(d, '02-input-file.ts', ['0.5', '1.5'])).toEqual({ '0.5': 1, '1.5': 3 });

      const art = await example(d, '03-artifact.ts');
      expect(art.sums).toEqual([sumTo(1000), sumTo(100000) - sumTo(1000), sumTo(200000) - sumTo(100000)]);
      expect(art.artifact.name).toBe('table.txt');
      // Uploaded once: one artifact, used by three jobs.
      expect((await d.alice.listArtifacts()).map((a) => a.name)).toEqual(['table.txt']);
      const all = await Promise.all((await d.alice.listJobs({ all: true })).map((j) => d.alice.getJob(j.id)));
      const users = all.filter((j) => j.definition.artifacts?.some((a) => a.url === 'table.txt'));
      expect(users).toHaveLength(3);

      const rounds = await example(d, '04-rounds.ts');
      expect(rounds.round1.x).toBe(4);
      expect(rounds.round2Points).toEqual([3.5, 3.75, 4, 4.25, 4.5]);
      expect(rounds.round2.x).toBe(3.75);
      expect(rounds.round2.y).toBeCloseTo(0.0025, 6);

      const dir = mkdtempSync(join(tmpdir(), 'hpcb-examples-'));
      const outs = await example(d, '05-outputs.ts', [dir]);
      expect(outs.mean).toBe(42.5);
      expect(outs.inMemory).toEqual(outs.daemon);
      expect(outs.inMemory.size).toBe(65536);
      const saved = readFileSync(outs.saved);
      expect(createHash('sha256').update(saved).digest('hex')).toBe(outs.daemon.sha256);
    });

    it('06: a sweep, the best point read from its output files, refined twice, finds the minimum', async () => {
      d ??= await open();
      const r = await example(d, '06-iterative-sweep.ts');
      expect(r.rounds.map((x: { range: number[] }) => x.range)).toEqual([[0, 8, 1], [3.5, 4.5, 0.1], [3.65, 3.75, 0.01]]);
      expect(r.rounds.map((x: { points: number }) => x.points)).toEqual([9, 11, 11]);
      expect(r.rounds.map((x: { best: { x: number } }) => x.best.x)).toEqual([4, 3.7, 3.72]);
      expect(r.rounds[0].best.y).toBeCloseTo(0.0784, 8);
      expect(r.best).toEqual({ x: 3.72, y: 0 });
      // Each round was one workflow of the example's, every instance completed.
      const wfs = (await Workflow.list(d.alice)).filter((w) => w.labels.example === '06');
      expect(wfs.map((w) => [w.status, w.progress.completed])).toEqual([['completed', 11], ['completed', 11], ['completed', 9]]);
    });

    it("07: snapshots of a sweep's running instances stop it early once one is good enough", async () => {
      d ??= await open();
      const dir = mkdtempSync(join(tmpdir(), 'hpcb-examples-'));
      const r = await example(d, '07-early-stop.ts', [dir]);
      // Only damping 0.3 can get below the target; its loss is 1/step there, so at step 20 or later.
      expect(r.winner.damping).toBe('0.3');
      expect(r.winner.loss).toBeLessThanOrEqual(0.05);
      expect(r.winner.step).toBeGreaterThanOrEqual(20);
      expect(r.winner.step).toBeLessThan(300);
      // The saved snapshot is the progress file up to then: one line per step, the last one the winner's.
      const lines = readFileSync(r.winner.saved, 'utf8').trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(r.winner.step);
      expect(lines.slice(0, 2)).toEqual(['1 1.000000', '2 0.500000']);
      // Every instance was cancelled before its 300 steps: none completed, and all of them ended.
      expect(r.instances.map((i: { damping: string }) => i.damping)).toEqual(['0.1', '0.2', '0.3', '0.4']);
      for (const i of r.instances) expect(['deleted', 'killed'], JSON.stringify(i)).toContain(i.status);
      const wf = (await Workflow.list(d.alice)).find((w) => w.id === r.workflow)!;
      expect(wf.status).toBe('deleted');
    });
  });
}

tutorial('examples on the direct cluster', () => startDaemon());
tutorial('examples on the Slurm test cluster', () => startDaemon({ settings: labSettings({ pollIntervalSeconds: 1 }).settings }));
