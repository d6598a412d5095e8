/**
 * `npm run bench`: every benchmark against the real test cluster, each figure beside its
 * baseline measured in the same run. Prints a markdown table and writes bench/results.json
 * with the machine it ran on. Not part of the test suite: no figure here is a pass/fail.
 *
 *   npm run bench                          everything (the published table)
 *   npm run bench -- --quick               small sizes, for development (not comparable)
 *   npm run bench -- --only=submit,poll    some groups: submit sweep pbs poll identities api login transport staging wait direct streams waiters loop
 *
 * A `--quick` or `--only` run writes bench/results.local.json instead, so the published
 * results are only replaced by a full run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClusterEnv } from '../test/cluster/env.js';
import { runApiBench } from './api.js';
import { runIdentitiesBench } from './identities.js';
import { runLoginBench } from './login.js';
import { runLoopBench } from './loop.js';
import { runPollBench } from './poll.js';
import { runStagingBench } from './staging.js';
import { runSubmitBench } from './submit.js';
import { runSweepBench } from './sweep.js';
import { runPbsBench } from './pbs.js';
import { runConcurrentWaitBench, runWaitBench } from './wait.js';
import { runDirectBench } from './direct.js';
import { runStreamsBench } from './streams.js';
import { benchTable, runTransportBench, type BenchRow } from './transport.js';

const here = dirname(fileURLToPath(import.meta.url));
const GROUPS = ['submit', 'sweep', 'pbs', 'poll', 'identities', 'api', 'login', 'transport', 'staging', 'wait', 'direct', 'streams', 'waiters', 'loop'] as const;
type Group = (typeof GROUPS)[number];

/** First line of a command's version output, from stdout or stderr (`ssh -V` prints to stderr). */
function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return r.error || !text ? 'unavailable' : text.split('\n')[0]!;
}

function loginVersion(env: ReturnType<typeof loadClusterEnv>, command: string): string {
  try {
    return execFileSync('ssh', ['-F', env.sshConfig, env.sshAlias, command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0]!;
  } catch {
    return 'unavailable';
  }
}

function parseArgs(argv: string[]): { quick: boolean; only: Set<Group> } {
  const quick = argv.includes('--quick');
  const onlyArg = argv.find((a) => a.startsWith('--only='));
  const only = new Set<Group>();
  for (const g of onlyArg ? onlyArg.slice('--only='.length).split(',') : GROUPS) {
    if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`unknown benchmark group "${g}"; known: ${GROUPS.join(', ')}`);
    only.add(g as Group);
  }
  return { quick, only };
}

async function main(): Promise<void> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  const full = !quick && only.size === GROUPS.length;
  // Bring the cluster up the same way the test suite does.
  execFileSync('bash', [join(here, '..', 'test', 'cluster', 'up.sh')], { stdio: 'inherit' });
  const env = loadClusterEnv();
  const load = () => loadavg().map((x) => Math.round(x * 100) / 100);
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    slurm: version('sinfo', ['--version']),
    openssh: version('ssh', ['-V']),
    sshd: loginVersion(env, 'ssh -V 2>&1'),
    date: new Date().toISOString(),
    loadAverageStart: load(),
    loadAverageEnd: [] as number[],
  };
  const rows: BenchRow[] = [];
  const timings: Record<string, number> = {};
  const started = Date.now();
  const opts = { quick };
  const run = async (g: Group, f: () => Promise<BenchRow[]>) => {
    if (!only.has(g)) return;
    const t = Date.now();
    rows.push(...(await f()));
    timings[g] = Math.round((Date.now() - t) / 1000);
    console.error(`bench: ${g} took ${timings[g]} s`);
  };
  await run('submit', () => runSubmitBench(env, opts));
  await run('sweep', () => runSweepBench(opts));
  await run('pbs', () => runPbsBench(opts));
  await run('poll', () => runPollBench(opts));
  await run('identities', () => runIdentitiesBench(opts));
  await run('api', () => runApiBench(opts));
  await run('login', () => runLoginBench(opts));
  await run('transport', () => runTransportBench(env, quick ? { execCount: 100, freshCount: 5, fileBytes: 64 << 20 } : {}));
  await run('wait', () => runWaitBench(quick ? { jobs: 50 } : {}));
  await run('staging', () => runStagingBench(quick ? { fileBytes: 64 << 20 } : {}));
  await run('direct', () => runDirectBench(quick ? { jobs: 100 } : {}));
  await run('streams', () => runStreamsBench(quick ? { jobs: 50 } : {}));
  await run('waiters', () => runConcurrentWaitBench(quick ? { waiters: 100 } : {}));
  await run('loop', () => runLoopBench(opts));
  machine.loadAverageEnd = load();
  const durationSeconds = Math.round((Date.now() - started) / 1000);
  const table = benchTable(rows);
  console.log(
    `\nMachine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.slurm}, ${machine.openssh}; ` +
      `load average ${machine.loadAverageStart.join(' ')} at start, ${machine.loadAverageEnd.join(' ')} at end; ${durationSeconds} s${quick ? ' (--quick)' : ''}\n`,
  );
  console.log(table);
  const file = full ? 'results.json' : 'results.local.json';
  writeFileSync(join(here, file), JSON.stringify({ machine, quick, groups: [...only], durationSeconds, timings, rows }, null, 2) + '\n');
  console.error(`bench: wrote bench/${file}`);
}

await main();
