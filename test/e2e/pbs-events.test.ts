/**
 * Completion events on both PBS flavors of the test cluster: the real OpenPBS server and the
 * Torque wrappers. The job script is the same runner as on Slurm, so its start and end records
 * reach the same account event log and the same follower; the status program stays the safety
 * net. With polls ten minutes apart, anything learned within the test came from the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { labSettings, type LabOptions } from './support/lab.js';
import { openpbs } from './support/openpbs.js';

const reasons = (b: Bridge, id: number) => b.store.events(id).map((e) => e.reason ?? '');
const slowPolls = { safetyPollSeconds: 600, eventCheckSeconds: 0.05 };

const flavors: [string, LabOptions, RegExp][] = [
  ['OpenPBS (flavor pbspro)', openpbs(slowPolls), /^\d+\.[A-Za-z0-9.-]+$/],
  ['the Torque wrappers (flavor torque)', { scheduler: 'pbs', flavor: 'torque', cluster: slowPolls }, /^\d+/],
];

for (const [label, options, nativeId] of flavors) {
  describe(`completion events on ${label}`, () => {
    let bridge: Bridge;

    beforeAll(() => {
      bridge = Bridge.open(labSettings({ ...options, pollIntervalSeconds: 600 }).settings);
      bridge.start();
    });
    afterAll(async () => {
      await bridge?.close();
    });

    it('learns start and end from the event log with the status program minutes away: completed and failed with the right exit codes', async () => {
      const rec = bridge.reconciler('lab')!;
      const ok = bridge.submit('alice', { tasks: [{ cmd: 'echo 42' }] }).job;
      const bad = bridge.submit('alice', { tasks: [{ cmd: 'exit 5' }] }).job;
      const [a, b] = await Promise.all([bridge.wait(ok.id, 120_000), bridge.wait(bad.id, 120_000)]);
      expect([a.status, a.exitCode, a.nativeId]).toEqual(['completed', 0, expect.stringMatching(nativeId)]);
      expect([b.status, b.exitCode]).toEqual(['failed', 5]);
      expect(rec.counters.statusCommands, 'no status command ran').toBe(0);
      expect(reasons(bridge, ok.id)).toContain('script ended with status 0 (event log)');
      expect(reasons(bridge, bad.id)).toContain('script ended with status 5 (event log)');
      expect(rec.followerStats!.applied).toBe(4);
    });
  });
}
