/**
 * PBS rows, on the test cluster's real OpenPBS server (test/cluster/openpbs.sh), each against its
 * baseline measured in the same run:
 *   - submit throughput: N jobs through the bridge until every one has its server id, against a
 *     `qsub` loop on the login node itself (run before and after the bridge; the mean is the baseline);
 *   - a 1,000-instance sweep: time until every instance has its id and the submit commands it
 *     took (target 1, one `qsub -J`), against one `qsub -J 0-999` on the login node.
 * Every job goes to the stopped queue `parked`, so nothing runs; everything is deleted at the end.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import { labSettings, onLogin } from '../test/e2e/support/lab.js';
import { openpbs, PBS_BIN } from '../test/e2e/support/openpbs.js';
import { jobCounter, makeRow, sleep, type BenchOptions, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

export async function runPbsBench(opts: BenchOptions & { jobs?: number; instances?: number } = {}): Promise<BenchRow[]> {
  const n = opts.jobs ?? (opts.quick ? 50 : 200);
  const instances = opts.instances ?? (opts.quick ? 100 : 1000);
  const log = opts.log ?? ((s: string) => console.error(s));
  const lab = labSettings(openpbs({ pollIntervalSeconds: 2, submitBatchSize: 100, submitRatePerSecond: 10000 }));
  const env = lab.env;
  const deleteParked = () => onLogin(env, `ids=$(${PBS_BIN}/qselect -q parked -u ${env.user}); [ -z "$ids" ] || ${PBS_BIN}/qdel $ids`).catch(() => '');
  const qsubLoop = async (): Promise<number> => {
    log(`pbs: ${n} x qsub in a loop on the login node`);
    const out = await onLogin(env, `cd /tmp && s=$(date +%s%N); for i in $(seq ${n}); do echo true | ${PBS_BIN}/qsub -q parked -N hpcb-bench >/dev/null || exit 1; done; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`);
    await deleteParked();
    return n / (Number(out.trim()) / 1e6);
  };

  await deleteParked();
  const bridge = Bridge.open(lab.settings, { logger: silentLogger() });
  const counter = jobCounter(bridge.store);
  try {
    const loopBefore = await qsubLoop();
    bridge.start();
    const count = counter.count;

    log(`pbs: ${n} jobs through the bridge`);
    let t0 = performance.now();
    for (let i = 0; i < n; i++) bridge.submit('bench', { tasks: [{ cmd: 'true' }], queue: 'parked' });
    while (count("SELECT COUNT(*) AS n FROM jobs WHERE native_id IS NULL AND state NOT IN ('failed', 'deleted')") > 0) await sleep(20);
    if (count("SELECT COUNT(*) AS n FROM jobs WHERE state IN ('failed', 'deleted')") > 0) throw new Error('a job failed before it reached the server');
    const bridgeRate = n / ((performance.now() - t0) / 1000);
    const submitCommands = bridge.reconciler('lab')!.counters.submitCommands;
    await deleteParked();
    const loopAfter = await qsubLoop();

    log(`pbs: one qsub -J 0-${instances - 1} on the login node`);
    const out = await onLogin(env, `cd /tmp && s=$(date +%s%N); echo true | ${PBS_BIN}/qsub -q parked -N hpcb-bench-array -J 0-${instances - 1} >/dev/null || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`);
    const arraySeconds = Number(out.trim()) / 1e6;
    await deleteParked();

    log(`pbs: ${instances}-instance parameterSweep through the bridge`);
    const before = bridge.reconciler('lab')!.counters.submitCommands;
    t0 = performance.now();
    bridge.submitWorkflow('bench', {
      name: 'bench-sweep',
      jobs: [{ name: 'point', queue: 'parked', tasks: [{ cmd: 'echo $x' }] }],
      factories: [{ type: 'parameterSweep', jobs: ['point'], parameters: [{ name: 'x', start: 1, end: instances, step: 1 }] }],
    });
    for (;;) {
      if (count("SELECT COUNT(*) AS n FROM jobs WHERE workflow_id IS NOT NULL AND state IN ('failed', 'deleted')") > 0) throw new Error('a sweep instance failed before it reached the server');
      if (count("SELECT COUNT(*) AS n FROM jobs WHERE workflow_id IS NOT NULL AND kind = 'job' AND (native_id IS NULL OR state IN ('accepted', 'staging_in', 'submitting'))") === 0) break;
      await sleep(20);
    }
    const sweepSeconds = (performance.now() - t0) / 1000;
    const sweepCommands = bridge.reconciler('lab')!.counters.submitCommands - before;
    const loopRate = (loopBefore + loopAfter) / 2;
    return [
      makeRow(`OpenPBS: submit ${n} jobs until all are in the server`, bridgeRate, 'jobs/s', 'qsub loop on the login node', loopRate,
        `loop ${loopBefore.toFixed(1)} before, ${loopAfter.toFixed(1)} after; ${submitCommands} submit commands for ${n} jobs`),
      makeRow(`OpenPBS: ${instances}-instance sweep until all are known to the server`, sweepSeconds, 's', `one \`qsub -J 0-${instances - 1}\` on the login node`, arraySeconds,
        `lower is better; includes writing ${instances} job directories and scripts; ${sweepCommands} submit command(s) (target 1)`),
    ];
  } finally {
    counter.close();
    await bridge.close();
    await deleteParked();
    await onLogin(env, `rm -rf ${lab.scratchRoot}`).catch(() => '');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runPbsBench({ quick: process.argv.includes('--quick') })));
}
