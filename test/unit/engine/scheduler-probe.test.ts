/**
 * The engine asks the adapter's probe which scheduler answers before anything reaches it: the PBS
 * Pro adapter's probe (adapters/pbs/flavor.ts) answered with captured outputs, around the direct
 * adapter so that a job which may go on really runs. On the Torque wrappers' answer nothing moves
 * and the cluster says why, naming itself and both flavors; once the real OpenPBS answers, the
 * same job runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDirectAdapter } from '../../../adapters/direct/index.js';
import { createPbsAdapter } from '../../../adapters/pbs/index.js';
import { Bridge } from '../../../src/bridge.js';
import { silentLogger } from '../../../src/logging.js';
import { buildSettings } from '../../../src/settings/load.js';
import { fixture, fixtureWithExit } from '../../helpers/fixtures.js';

const openpbs = fixture('openpbs-23.06/37_qstat_version.txt');
const wrappers = fixtureWithExit('slurm-22.05/12w-qstat-version.txt');

let bridge: Bridge | undefined;
let dir: string | undefined;
afterEach(async () => {
  await bridge?.close();
  bridge = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the scheduler probe before the first submit', () => {
  it('a pbspro cluster whose qstat is the Torque wrappers submits nothing and says so; it goes on once OpenPBS answers', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hpcb-probe-'));
    // What the stand-in qstat --version prints, and its exit status: swapped by the test.
    const answer = join(dir, 'answer');
    const say = (body: string, code: number) => writeFileSync(answer, JSON.stringify({ body, code }));
    say(wrappers.body, wrappers.exitCode ?? 2);
    const pbs = createPbsAdapter({ flavor: 'pbspro' });
    const probeCommand = ['node', '-e', 'const a = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(a.body); process.exit(a.code)', answer];
    const settings = buildSettings({ dataDir: dir }, [
      { file: '(test)', raw: { name: 'big', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dir, 'scratch'), pollIntervalSeconds: 0.2 } },
    ]);
    bridge = Bridge.open(settings, {
      logger: silentLogger(),
      adapterFor: () => ({ ...createDirectAdapter({}), probe: { ...pbs.probe!, command: probeCommand } }),
    });
    bridge.start();
    const b = bridge;
    const id = b.submit('alice', { tasks: [{ cmd: 'echo ran' }] }).job.id;

    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(ok(), what).toBe(true);
    };
    await until('the cluster degraded by the probe', () => b.health()[0]!.state === 'degraded');
    const h = b.health()[0]!;
    expect(h.lastError).toMatch(/cluster big: flavor pbspro is configured, but the qstat found is Slurm's Torque wrappers .*which is flavor torque: set flavor: torque, or adapter\.commandDir/);
    expect(h.lastError).toMatch(/nothing is submitted or polled there until they agree/);
    // Nothing reached the scheduler: the job never left the bridge.
    await new Promise((r) => setTimeout(r, 500));
    expect(b.get(id)!.state).toBe('accepted');
    expect(b.get(id)!.nativeId).toBeNull();

    say(openpbs, 0);
    b.reconciler('big')!.wake();
    const done = await b.wait(id, 30_000);
    expect([done.status, done.statusReason]).toEqual(['completed', 'all tasks exited 0']);
    expect(b.health()[0]!.state).toBe('ok');
  });

  it('an answer that names no PBS flavor is not guessed at: the job goes on as configured', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hpcb-probe-'));
    const pbs = createPbsAdapter({ flavor: 'pbspro' });
    const settings = buildSettings({ dataDir: dir }, [
      { file: '(test)', raw: { name: 'odd', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dir, 'scratch'), pollIntervalSeconds: 0.2 } },
    ]);
    bridge = Bridge.open(settings, {
      logger: silentLogger(),
      adapterFor: () => ({ ...createDirectAdapter({}), probe: { ...pbs.probe!, command: ['sh', '-c', 'echo "site qstat 1.0"'] } }),
    });
    bridge.start();
    const done = await bridge.wait(bridge.submit('alice', { tasks: [{ cmd: 'true' }] }).job.id, 30_000);
    expect(done.status).toBe('completed');
  });
});
