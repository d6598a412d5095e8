/**
 * Sweeps: a parameter sweep of N instances (1,000 by default) through the bridge, to the DOWN
 * `parked` partition so the elements stay pending. Measured: submit commands the bridge ran
 * (target 1) and the time from submitWorkflow() until every instance has its scheduler id,
 * against one `sbatch --array=0-(N-1)` run on the login node in the same run (the time until
 * sbatch has printed the array's id, i.e. the controller knows all N elements).
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import { labSettings, onLogin } from '../test/e2e/support/lab.js';
import { jobCounter, makeRow, sleep, type BenchOptions, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

export async function runSweepBench(opts: BenchOptions & { instances?: number } = {}): Promise<BenchRow[]> {
  const n = opts.instances ?? (opts.quick ? 100 : 1000);
  const log = opts.log ?? ((s: string) => console.error(s));
  const lab = labSettings({ pollIntervalSeconds: 2 });
  const env = lab.env;
  const cancelParked = () => onLogin(env, `scancel --user=${env.user} --partition=parked`).catch(() => '');
  await cancelParked();

  log(`sweep: one sbatch --array=0-${n - 1} on the login node`);
  // Timed on the login node itself, like the sbatch loop of the submit row.
  const out = await onLogin(env, `s=$(date +%s%N); sbatch --parsable -p parked --job-name=hpcb-bench-array --array=0-${n - 1} --wrap true >/dev/null || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`);
  const arraySeconds = Number(out.trim()) / 1e6;
  await cancelParked();

  log(`sweep: ${n}-instance parameterSweep through the bridge`);
  const bridge = Bridge.open(lab.settings, { logger: silentLogger() });
  bridge.start();
  try {
    const t0 = performance.now();
    bridge.submitWorkflow('bench', {
      name: 'bench-sweep',
      jobs: [{ name: 'point', queue: 'parked', tasks: [{ cmd: 'echo $x' }] }],
      factories: [{ type: 'parameterSweep', jobs: ['point'], parameters: [{ name: 'x', start: 1, end: n, step: 1 }] }],
    });
    const jobs = jobCounter(bridge.store);
    try {
      for (;;) {
        if (jobs.count("SELECT COUNT(*) AS n FROM jobs WHERE state IN ('failed', 'deleted')") > 0) throw new Error('a sweep instance failed before it reached the scheduler');
        if (jobs.count("SELECT COUNT(*) AS n FROM jobs WHERE kind = 'job' AND (native_id IS NULL OR state IN ('accepted', 'staging_in', 'submitting'))") === 0) break;
        await sleep(20);
      }
    } finally {
      jobs.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    const c = bridge.reconciler('lab')!.counters;
    return [
      makeRow(`${n}-instance sweep: time until all are known to the scheduler`, seconds, 's', `one \`sbatch --array=0-${n - 1}\` on the login node`, arraySeconds,
        `lower is better; includes writing ${n} job directories and scripts (stage-in); ${c.submitCommands} submit command(s) for ${n} instances (target 1)`),
      makeRow(`${n}-instance sweep: submit commands`, c.submitCommands, 'commands', 'one sbatch --array', 1, 'target 1'),
    ];
  } finally {
    await bridge.close();
    await cancelParked();
    await onLogin(env, `rm -rf ${lab.scratchRoot}`).catch(() => '');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runSweepBench({ quick: process.argv.includes('--quick') })));
}
