/**
 * A large sweep on the real Slurm over the real sshd reaches the cluster in a handful of SSH
 * round trips, however many instances it has (their directories, inputs and scripts as one
 * stream), and its outputs and logs come back in streams of many files, each byte right.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import type { SshTransportStats } from '../../src/transport/ssh/sshTransport.js';
import { labSettings } from './support/lab.js';

const N = 200;
let bridge: Bridge;

beforeAll(() => {
  const lab = labSettings();
  bridge = Bridge.open(lab.settings);
  bridge.start();
});

afterAll(async () => {
  await bridge?.close();
});

const sshStats = (): SshTransportStats => (bridge.reconciler('lab')!.rt.transport as unknown as { stats(): SshTransportStats }).stats();

describe('a large sweep on Slurm over SSH', () => {
  it(`reaches the scheduler in a bounded number of channels for ${N} instances, and every output comes back right`, { timeout: 600_000 }, async () => {
    // Connect first, so the count below is the sweep's alone.
    await bridge.reconciler('lab')!.rt.transport.exec(['true']);
    const before = sshStats();
    const counters = { ...bridge.reconciler('lab')!.counters };
    const fetchesBefore = bridge.staging.stats().fetchCommands ?? 0;
    const wf = bridge.submitWorkflow('alice', {
      name: 'sweep-bulk',
      jobs: [
        {
          name: 'point',
          tasks: [{ cmd: 'read -r base < base.txt; echo "$((base + x))" > out.txt; echo "point $x"; echo "note $x" >&2' }],
          resources: { cpus: 1, memory: 0.1, walltime: 5 },
          inputs: [{ filename: 'base.txt', content: Buffer.from('1000\n').toString('base64') }],
          outputFiles: ['out.txt'],
        },
      ],
      factories: [{ type: 'parameterSweep', jobs: ['point'], parameters: [{ name: 'x', start: 1, end: N, step: 1 }] }],
    });
    expect(wf.progress.total).toBe(N);

    // Until every instance has its element id: the stage-in stream of the instances, the
    // carrier's, the one submit, and the polls of those seconds. Nothing per instance.
    for (;;) {
      const rows = bridge.store.workflowJobs(wf.id).filter((j) => j.kind === 'job');
      if (rows.some((j) => j.state === 'failed')) throw new Error(`an instance failed: ${rows.find((j) => j.state === 'failed')!.statusReason}`);
      if (rows.every((j) => j.nativeId !== null)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const known = sshStats();
    const c = bridge.reconciler('lab')!.counters;
    const polls = c.statusCommands - counters.statusCommands;
    expect(c.stageInStreams - counters.stageInStreams).toBeLessThanOrEqual(2);
    expect(c.submitCommands - counters.submitCommands).toBe(1);
    expect(known.channelsOpened - before.channelsOpened - polls, `channels opened (${polls} polls not counted)`).toBeLessThanOrEqual(6);

    const done = await bridge.waitWorkflow(wf.id, 540_000);
    expect(done.status).toBe('completed');
    expect(done.progress.completed).toBe(N);
    // Every instance's output, stdout and stderr, byte for byte.
    for (const j of done.jobs) {
      const x = Number(j.parameters.x);
      const out = await bridge.staging.openOutput(j.id, 'alice', 'out.txt');
      const chunks: Buffer[] = [];
      for await (const b of out.stream) chunks.push(b as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe(`${1000 + x}\n`);
      expect((await bridge.staging.readLog(j.id, 'alice', 'stdout')).data.toString()).toBe(`point ${x}\n`);
      expect((await bridge.staging.readLog(j.id, 'alice', 'stderr')).data.toString()).toBe(`note ${x}\n`);
    }
    // Outputs and logs (3 files an instance) came back in streams of many, not one program per
    // file or per element: the instances whose stage-outs run together share a stream (how many
    // do is bounded by the stage-outs in flight, 8 by default).
    const fetches = (bridge.staging.stats().fetchCommands ?? 0) - fetchesBefore;
    expect(fetches).toBeGreaterThan(0);
    expect(fetches, `${fetches} fetch streams for ${N} instances`).toBeLessThanOrEqual(N / 2);
  });
});
