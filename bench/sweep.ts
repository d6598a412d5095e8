/**
 * Sweeps: parameter sweeps of 1,000 and 10,000 instances through the bridge, to the DOWN
 * `parked` partition so the elements stay pending. Measured: the time from submitWorkflow()
 * until every instance has its scheduler id, and the submissions it took, against the same
 * arrays submitted bare on the login node in the same run: one `sbatch --array=0-(N-1)` where N
 * fits the cluster's MaxArraySize, else as many bare array submissions of the same sizes as the
 * bridge makes (the time until the last sbatch has printed its id, i.e. the controller knows
 * every element).
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import { labSettings, onLogin } from '../test/e2e/support/lab.js';
import { jobCounter, makeRow, sleep, type BenchOptions, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

export async function runSweepBench(opts: BenchOptions & { sizes?: number[] } = {}): Promise<BenchRow[]> {
  const sizes = opts.sizes ?? (opts.quick ? [100] : [1000, 10000]);
  const rows: BenchRow[] = [];
  for (const n of sizes) rows.push(...(await sweepOnce(n, opts)));
  return rows;
}

/** The array sizes the bridge splits `n` instances into (src/bridge.ts, arrayChunks). */
function chunkSizes(n: number, max: number): number[] {
  const k = Math.ceil(n / max);
  return Array.from({ length: k }, (_, c) => Math.floor(n / k) + (c < n % k ? 1 : 0));
}

async function sweepOnce(n: number, opts: BenchOptions): Promise<BenchRow[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const lab = labSettings({ pollIntervalSeconds: 2 });
  const env = lab.env;
  const cancelParked = () => onLogin(env, `scancel --user=${env.user} --partition=parked`).catch(() => '');
  await cancelParked();

  const bridge = Bridge.open(lab.settings, { logger: silentLogger() });
  const max = bridge.reconciler('lab')!.rt.adapter.arrays?.maxElements ?? n;
  const chunks = chunkSizes(n, max);
  const bare = chunks.map((size) => `sbatch --parsable -p parked --job-name=hpcb-bench-array --array=0-${size - 1} --wrap true >/dev/null || exit 1`).join('; ');
  const sizesText = new Set(chunks).size === 1 ? `${chunks[0]} elements each` : `${chunks.join(', ')} elements`;
  const bareName = chunks.length === 1 ? `one \`sbatch --array=0-${n - 1}\` on the login node` : `${chunks.length} bare \`sbatch --array\` (${sizesText}) in a row on the login node`;
  log(`sweep: ${bareName}`);
  // Timed on the login node itself, like the sbatch loop of the submit row.
  const out = await onLogin(env, `s=$(date +%s%N); ${bare}; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`);
  const arraySeconds = Number(out.trim()) / 1e6;
  await cancelParked();

  log(`sweep: ${n}-instance parameterSweep through the bridge`);
  bridge.start();
  try {
    // Connected and idle first (as a running daemon is), so the figure is the sweep's alone.
    await bridge.reconciler('lab')!.rt.transport.exec(['true']);
    await sleep(500);
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
      makeRow(`${n}-instance sweep: time until all are known to the scheduler`, seconds, 's', bareName, arraySeconds,
        `lower is better; includes creating ${n} instances, their job directories and scripts (stage-in) and ${c.jobsSubmitted} array submission(s) in ${c.submitCommands} submit command(s)`),
      makeRow(`${n}-instance sweep: array submissions`, c.jobsSubmitted, 'submissions', chunks.length === 1 ? 'one sbatch --array' : `${chunks.length} sbatch --array (MaxArraySize ${max})`, chunks.length, `target ${chunks.length}`),
    ];
  } finally {
    await bridge.close();
    await cancelParked();
    await onLogin(env, `rm -rf ${lab.scratchRoot}`).catch(() => '');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = process.argv.find((a) => a.startsWith('--sizes='))?.slice('--sizes='.length).split(',').map(Number);
  console.log(benchTable(await runSweepBench({ quick: process.argv.includes('--quick'), ...(sizes ? { sizes } : {}) })));
}
