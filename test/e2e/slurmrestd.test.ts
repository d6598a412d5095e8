/**
 * Submission through slurmrestd on the login node (rest_auth/local on a Unix socket), reached
 * through a forwarded stream of the bridge's SSH connection: jobs run and report truthfully, no
 * submit program runs, a job the controller refuses fails with the controller's words, and a
 * socket that is not there leaves jobs to sbatch rather than stranding them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import type { JobRecord } from '../../src/store/store.js';
import { labSettings } from './support/lab.js';

let bridge: Bridge;
let broken: Bridge;

beforeAll(() => {
  const probe = labSettings();
  const socket = probe.env.slurmrestdSocket;
  if (!socket) throw new Error('the test cluster runs no slurmrestd: run test/cluster/up.sh from this checkout');
  bridge = Bridge.open(labSettings({ cluster: { adapter: { slurmrestd: { socket } } } }).settings);
  bridge.start();
  broken = Bridge.open(labSettings({ cluster: { adapter: { slurmrestd: { socket: `${socket}.missing` } } } }).settings);
  broken.start();
});

afterAll(async () => {
  await bridge?.close();
  await broken?.close();
});

function waitEnded(b: Bridge, id: number): Promise<JobRecord> {
  return b.wait(id, 240_000, 'alice');
}

describe('submission through slurmrestd over the SSH connection', () => {
  it('runs jobs submitted through the REST daemon, with no submit program, and each result right', { timeout: 300_000 }, async () => {
    const c = bridge.reconciler('lab')!.counters;
    const ids = [1, 2, 3, 4, 5].map((i) => bridge.submit('alice', { tasks: [{ cmd: `echo rest-${i}; exit ${i === 5 ? 3 : 0}` }], resources: { cpus: 1, memory: 0.1, walltime: 5 } }).job.id);
    const views = await Promise.all(ids.map((id) => waitEnded(bridge, id)));
    expect(views.map((v) => v.state)).toEqual(['completed', 'completed', 'completed', 'completed', 'failed']);
    expect(views[4]!.exitCode).toBe(3);
    for (const [i, id] of ids.entries()) expect((await bridge.staging.readLog(id, 'alice', 'stdout')).data.toString()).toBe(`rest-${i + 1}\n`);
    expect(c.restSubmits).toBe(5);
    // Each answer was read (not lost and then found in the queue by the job's tag).
    expect(c.jobsSubmitted).toBe(5);
    expect(c.submitCommands).toBe(0);
    expect(views.every((v) => /^\d+$/.test(v.nativeId ?? ''))).toBe(true);
  });

  it('fails a job the controller refuses, with its words', { timeout: 120_000 }, async () => {
    const { job: { id } } = bridge.submit('alice', { tasks: [{ cmd: 'true' }], queue: 'nosuchpartition', resources: { cpus: 1, memory: 0.1, walltime: 5 } });
    const v = await waitEnded(bridge, id);
    expect(v.state).toBe('failed');
    expect(v.statusReason).toMatch(/slurmrestd refused the job: .*partition/i);
  });

  it('submits with sbatch when the socket is not there, once each', { timeout: 300_000 }, async () => {
    const c = broken.reconciler('lab')!.counters;
    const ids = [1, 2].map((i) => broken.submit('alice', { tasks: [{ cmd: `echo fallback-${i}` }], resources: { cpus: 1, memory: 0.1, walltime: 5 } }).job.id);
    const views = await Promise.all(ids.map((id) => waitEnded(broken, id)));
    expect(views.map((v) => v.state)).toEqual(['completed', 'completed']);
    expect(c.restSubmits).toBe(0);
    expect(c.submitCommands).toBeGreaterThan(0);
    expect(c.jobsSubmitted).toBe(2);
  });
});
