/**
 * Which PBS answers on the real login node, where both do: OpenPBS under /opt/pbs/bin and Slurm's
 * Torque wrappers first on the PATH. `config check` compares the configured flavor with it, and
 * the daemon asks before its first submit: a cluster entry that would send jobs to the other
 * scheduler (the mistake that once sent an OpenPBS test's job to Slurm) submits nothing and says
 * why, naming the cluster and both flavors.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { checkCluster } from '../../src/ops/check.js';
import { buildSettings } from '../../src/settings/load.js';
import { labSettings, onLogin, until } from './support/lab.js';
import { openpbs } from './support/openpbs.js';

const lab = labSettings(openpbs());
const cluster = (raw: Record<string, unknown>) => buildSettings({ dataDir: lab.dataDir, logLevel: 'silent' }, [{ file: '(test)', raw }]).clusters[0]!;
const withoutDir = (): Record<string, unknown> => {
  const { adapter: _adapter, ...rest } = lab.cluster;
  return rest;
};

afterAll(async () => {
  await onLogin(lab.env, `rm -rf '${lab.scratchRoot}'`).catch(() => undefined);
});

describe('PBS flavor on the real login node', () => {
  it('config check: pbspro with commandDir matches OpenPBS; torque there names both flavors; torque on the PATH is the wrappers', async () => {
    const ok = await checkCluster(cluster(lab.cluster));
    expect(ok.find((s) => s.check === 'flavor')).toMatchObject({ ok: true });
    expect(ok.find((s) => s.check === 'flavor')!.detail).toMatch(/flavor pbspro matches the qstat found: PBS Pro\/OpenPBS 23\.06\.\d+/);

    const wrong = await checkCluster(cluster({ ...lab.cluster, flavor: 'torque' }));
    expect(wrong.at(-1)).toMatchObject({ cluster: 'lab', check: 'flavor', ok: false });
    expect(wrong.at(-1)!.detail).toMatch(/flavor torque is configured, but the qstat found is PBS Pro\/OpenPBS 23\.06\.\d+ .*which is flavor pbspro: set flavor: pbspro/);

    const wrappers = await checkCluster(cluster({ ...withoutDir(), flavor: 'torque' }));
    expect(wrappers.find((s) => s.check === 'flavor')).toMatchObject({ ok: true });
    expect(wrappers.find((s) => s.check === 'flavor')!.detail).toMatch(/Slurm's Torque wrappers/);
  });

  it('the daemon: pbspro without commandDir (qsub on the PATH is the wrappers) submits nothing, and the cluster says why', async () => {
    const settings = buildSettings({ dataDir: lab.dataDir, logLevel: 'silent' }, [{ file: '(test)', raw: withoutDir() }]);
    const bridge = Bridge.open(settings);
    try {
      bridge.start();
      const id = bridge.submit('alice', { tasks: [{ cmd: 'true' }] }).job.id;
      const h = await until('the cluster degraded by the probe', () => {
        const x = bridge.health()[0]!;
        return x.state === 'degraded' && x.lastError?.includes('scheduler probe') ? x : undefined;
      }, 60_000);
      expect(h.lastError).toMatch(/cluster lab: flavor pbspro is configured, but the qstat found is Slurm's Torque wrappers .*which is flavor torque: set flavor: torque, or adapter\.commandDir/);
      const j = bridge.get(id)!;
      expect([j.state, j.nativeId]).toEqual(['accepted', null]);
      // The wrappers' qsub took nothing from this daemon: no Slurm job carries its tag.
      const tag = `hb${bridge.store.instanceId()}-`;
      expect(await onLogin(lab.env, `squeue -h -o %j; sacct -n -X -S now-10minutes -o JobName%60`)).not.toContain(tag);
    } finally {
      await bridge.close();
    }
  });
});
