/**
 * Users in the daemon config: which clusters each may use, and the scheduler account charged
 * on each. Through the real API on two `direct` clusters.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { slurmDirectives } from '../../adapters/slurm/index.js';
import { buildSettings } from '../../src/settings/load.js';
import { call, startDaemon, type Daemon } from '../api/helpers.js';

let d: Daemon | undefined;
afterEach(async () => {
  await d?.close();
  d = undefined;
});

function twoClusters(users: unknown) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-users-'));
  const cluster = (name: string) => ({ file: `${name}.yaml`, raw: { name, scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, name), pollIntervalSeconds: 0.2, defaults: { account: 'site-default' } } });
  return buildSettings({ dataDir, logLevel: 'info', defaultCluster: 'hpc1', users }, [cluster('hpc1'), cluster('hpc2')], 'hpc-bridge.yaml');
}

describe('user policies', () => {
  it('lists every user entry that names a cluster nobody configured', () => {
    // With a schema problem in the same file, the cross-checks are still all listed.
    expect(() => twoClusters({ alice: { clusters: ['hpc1', 'hcp2'], accounts: { hpc3: 'p1', hpc2: 'p2' } }, bob: { accounts: { hpc1: 'no spaces' } } })).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/configuration has 4 problems[\s\S]*users\.bob\.accounts\.hpc1: must be a scheduler account name[\s\S]*users\.alice\.accounts\.hpc2/),
      }),
    );
    expect(() => twoClusters({ alice: { clusters: ['hpc1', 'hcp2'], accounts: { hpc3: 'p1', hpc2: 'p2' } } })).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(
          /configuration has 3 problems[\s\S]*users\.alice\.clusters\.1: names no configured cluster \("hcp2"\)[\s\S]*users\.alice\.accounts\.hpc3: names no configured cluster[\s\S]*users\.alice\.accounts\.hpc2: the user may not use cluster "hpc2"/,
        ),
      }),
    );
  });

  it('refuses a cluster the user may not use, and charges the user\'s account where the job names none', async () => {
    d = await startDaemon({ settings: twoClusters({ alice: { clusters: ['hpc1'], accounts: { hpc1: 'proj-42' } } }) });

    const refused = await call(d, 'POST', '/jobs', { body: { cluster: 'hpc2', tasks: [{ cmd: 'true' }] } });
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toBe('invalid job definition: cluster: user "alice" may not use cluster "hpc2" (allowed: hpc1)');
    expect((await call(d, 'GET', '/jobs?all=true')).json.jobs).toEqual([]);

    // The account is written into the stored definition (which allocation paid is on record)...
    const job = await d.alice.createJob({ tasks: [{ cmd: 'true' }] });
    expect((await d.alice.getJob(job.id)).definition.account).toBe('proj-42');
    // ...a definition's own account wins...
    const own = await d.alice.createJob({ account: 'other', tasks: [{ cmd: 'true' }] });
    expect((await d.alice.getJob(own.id)).definition.account).toBe('other');
    // ...and a user without a policy gets the cluster's default, on any cluster. Nothing is
    // written into bob's definition: the cluster's default is applied where the batch script is
    // rendered, so that is where it is checked (the `direct` adapter has no accounts, so the
    // stored definitions go through the Slurm directives with each cluster's own defaults).
    const bobs = await d.bob.createJob({ cluster: 'hpc2', tasks: [{ cmd: 'true' }] });
    expect((await d.bob.getJob(bobs.id)).definition.account).toBeUndefined();
    const accountDirective = (id: number) => {
      const job = d!.bridge.get(id)!;
      const defaults = d!.bridge.reconciler(job.cluster)!.rt.defaults;
      const directives = slurmDirectives(job.spec, { jobDir: '/scratch/j', tag: `hb000000-${id}-0`, bridgeJobId: id, attempt: 0, defaults });
      return directives.filter(([flag]) => flag === '--account');
    };
    expect(accountDirective(bobs.id)).toEqual([['--account', 'site-default']]);
    expect(accountDirective(job.id)).toEqual([['--account', 'proj-42']]);
    expect(accountDirective(own.id)).toEqual([['--account', 'other']]);

    // A workflow gets the same check, naming the job's field.
    const wf = await call(d, 'POST', '/workflows', { body: { jobs: [{ name: 'a', cluster: 'hpc1', tasks: [{ cmd: 'true' }] }, { name: 'b', cluster: 'hpc2', tasks: [{ cmd: 'true' }] }] } });
    expect(wf.status).toBe(400);
    expect(wf.json.error.message).toContain('jobs[1].cluster: user "alice" may not use cluster "hpc2"');
    expect((await call(d, 'GET', '/workflows')).json.workflows).toEqual([]);
    for (const id of [job.id, own.id]) expect((await d.alice.waitJob(id, 25)).status).toBe('completed');
  });
});
