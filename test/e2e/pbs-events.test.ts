/**
 * Completion events on both PBS flavors of the test cluster: the real OpenPBS server and the
 * Torque wrappers. The job script is the same runner as on Slurm, so its start and end records
 * reach the same account event log and the same follower. On PBS a start record counts at once,
 * but an end record only brings the status poll back (adapters/pbs says why: MoM kills a job's
 * processes children first, so a killed job's script can write an end record with status 0):
 * the server's word ends the job. With the safety-net poll ten minutes away, a status command
 * ran because the end record asked for one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { labSettings, type LabOptions } from './support/lab.js';
import { openpbs } from './support/openpbs.js';

const slowSafetyNet = { safetyPollSeconds: 600, eventCheckSeconds: 0.05 };

const flavors: [string, LabOptions, RegExp][] = [
  ['OpenPBS (flavor pbspro)', openpbs(slowSafetyNet), /^\d+\.[A-Za-z0-9.-]+$/],
  ['the Torque wrappers (flavor torque)', { scheduler: 'pbs', flavor: 'torque', cluster: slowSafetyNet }, /^\d+/],
];

for (const [label, options, nativeId] of flavors) {
  describe(`completion events on ${label}`, () => {
    let bridge: Bridge;

    beforeAll(() => {
      bridge = Bridge.open(labSettings({ ...options, pollIntervalSeconds: 1 }).settings);
      bridge.start();
    });
    afterAll(async () => {
      await bridge?.close();
    });

    it('reads start and end records; the end record asks the server, whose word ends the job with the right exit code', async () => {
      const rec = bridge.reconciler('lab')!;
      const ok = bridge.submit('alice', { tasks: [{ cmd: 'sleep 2; echo 42' }] }).job;
      const bad = bridge.submit('alice', { tasks: [{ cmd: 'sleep 2; exit 5' }] }).job;
      const [a, b] = await Promise.all([bridge.wait(ok.id, 120_000), bridge.wait(bad.id, 120_000)]);
      expect([a.status, a.exitCode, a.nativeId]).toEqual(['completed', 0, expect.stringMatching(nativeId)]);
      expect([b.status, b.exitCode]).toEqual(['failed', 5]);
      for (const id of [ok.id, bad.id]) {
        // Running once, by its start record or by a poll that saw it first (both are true).
        expect(bridge.store.events(id).filter((e) => e.to === 'running')).toHaveLength(1);
        // Never ended by its own record alone: the move to finishing is the server's.
        const toFinishing = bridge.store.events(id).filter((e) => e.to === 'finishing');
        expect(toFinishing).toHaveLength(1);
        expect(toFinishing[0]!.reason).not.toMatch(/event log/);
      }
      expect(rec.followerStats!.applied).toBe(4);
      expect(rec.counters.statusCommands).toBeGreaterThan(0);
    });
  });
}
