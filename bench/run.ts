/**
 * `npm run bench`: every benchmark against the real test cluster, each figure beside its
 * baseline measured in the same run. Prints a markdown table and writes bench/results.json
 * with the machine it ran on. Not part of the test suite: no figure here is a pass/fail.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClusterEnv } from '../test/cluster/env.js';
import { runStagingBench } from './staging.js';
import { runSubmitBench } from './submit.js';
import { runWaitBench } from './wait.js';
import { benchTable, runTransportBench, type BenchRow } from './transport.js';

const here = dirname(fileURLToPath(import.meta.url));

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0]!;
  } catch {
    return 'unavailable';
  }
}

async function main(): Promise<void> {
  // Bring the cluster up the same way the test suite does.
  execFileSync('bash', [join(here, '..', 'test', 'cluster', 'up.sh')], { stdio: 'inherit' });
  const env = loadClusterEnv();
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    slurm: version('sinfo', ['--version']),
    openssh: version('ssh', ['-V']) || 'unknown',
    date: new Date().toISOString(),
  };
  const rows: BenchRow[] = [];
  const started = Date.now();
  rows.push(...(await runSubmitBench(env)));
  rows.push(...(await runTransportBench(env)));
  rows.push(...(await runWaitBench()));
  rows.push(...(await runStagingBench()));
  const table = benchTable(rows);
  console.log(`\nMachine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.slurm}\n`);
  console.log(table);
  writeFileSync(join(here, 'results.json'), JSON.stringify({ machine, durationSeconds: Math.round((Date.now() - started) / 1000), rows }, null, 2) + '\n');
}

await main();
