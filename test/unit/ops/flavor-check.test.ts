/**
 * `config check` on a PBS cluster compares the configured flavor with what the login node's
 * qstat says it is (adapters/pbs/flavor.ts), over a stand-in transport answering with captured
 * outputs: the real OpenPBS's `qstat --version` and the Torque wrappers' refusal of it.
 */
import { describe, expect, it } from 'vitest';
import { checkCluster } from '../../../src/ops/check.js';
import { buildSettings } from '../../../src/settings/load.js';
import type { ExecResult, Transport } from '../../../src/transport/transport.js';
import { fixture, fixtureWithExit } from '../../helpers/fixtures.js';

const pbsVersion = fixture('openpbs-23.06/37_qstat_version.txt');
const wrappers = fixtureWithExit('slurm-22.05/12w-qstat-version.txt');

function cluster(extra: Record<string, unknown>) {
  const raw = { name: 'p', scheduler: 'pbs', transport: 'local', scratchRoot: '/scratch/u', ...extra };
  return buildSettings({ dataDir: '/tmp/hpcb-unused', logLevel: 'silent' }, [{ file: '(test)', raw }]).clusters[0]!;
}

/** A transport that answers like a login node whose qstat is `which`. */
function fakeLogin(which: 'openpbs' | 'wrappers', seen: string[][]): Transport {
  const ok = (stdout: string, exitCode = 0, stderr = ''): ExecResult => ({ exitCode, signal: null, stdout, stderr, durationMs: 1 });
  return {
    exec: async (argv: readonly string[]) => {
      seen.push([...argv]);
      if (argv[0] === 'id') return ok('hpcuser\n');
      if (argv.at(-1) === '--version') return which === 'openpbs' ? ok(pbsVersion) : ok('', wrappers.exitCode ?? 2, wrappers.body);
      if (String(argv[2] ?? '').includes('command -v')) return ok('');
      return ok('/dev/vda 1000 10 9000000 1% /scratch\n');
    },
    close: async () => undefined,
  } as unknown as Transport;
}

describe('config check: the configured PBS flavor against qstat --version', () => {
  it('pbspro with commandDir on a real OpenPBS: ok, and the probe runs the commandDir qstat', async () => {
    const seen: string[][] = [];
    const steps = await checkCluster(cluster({ flavor: 'pbspro', adapter: { commandDir: '/opt/pbs/bin' } }), () => fakeLogin('openpbs', seen));
    expect(steps.map((s) => [s.check, s.ok])).toEqual([['login', true], ['scheduler', true], ['flavor', true], ['scratch', true]]);
    expect(steps[2]!.detail).toMatch(/flavor pbspro matches .*PBS Pro\/OpenPBS 23\.06\.06/);
    expect(seen).toContainEqual(['/opt/pbs/bin/qstat', '--version']);
    expect(String(seen[1]![2])).toContain('command -v /opt/pbs/bin/qselect');
  });

  it('pbspro where qstat is the Torque wrappers: fails, naming what answered and what to set', async () => {
    const steps = await checkCluster(cluster({ flavor: 'pbspro' }), () => fakeLogin('wrappers', []));
    expect(steps.at(-1)).toMatchObject({ check: 'flavor', ok: false });
    expect(steps.at(-1)!.detail).toMatch(/flavor pbspro is configured, but the qstat found is Slurm's Torque wrappers .*which is flavor torque: set flavor: torque, or adapter.commandDir/);
  });

  it('torque on the wrappers: ok', async () => {
    const steps = await checkCluster(cluster({ flavor: 'torque' }), () => fakeLogin('wrappers', []));
    expect(steps.find((s) => s.check === 'flavor')).toMatchObject({ ok: true });
  });
});
