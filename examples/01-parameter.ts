/**
 * Seed tutorial, step 1: a parameter on the command line.
 *
 *   HPC_BRIDGE_URL=http://127.0.0.1:8742 HPC_BRIDGE_TOKEN=hpcb_... npx tsx examples/01-parameter.ts 200
 *
 * Submits one job per value given, each running the same command with a different argument,
 * waits for all of them and prints what each printed.
 */
import { Job, Resources, Task } from '../src/client/index.js';

const values = process.argv.slice(2).map(Number);
if (values.length === 0 || values.some((v) => !Number.isInteger(v))) {
  console.error('usage: 01-parameter.ts STEPS [STEPS...]');
  process.exit(2);
}

// A stand-in for `./simulate --steps N`: sums 1..N with awk, which every cluster has.
const simulate = (steps: number) => `awk -v n=${steps} 'BEGIN { s = 0; for (i = 1; i <= n; i++) s += i; print "steps", n, "result", s }'`;

const jobs = await Promise.all(
  values.map((steps) =>
    new Job({ name: `simulate-${steps}`, labels: { tutorial: 'parameter' }, tasks: [new Task(simulate(steps))], resources: new Resources({ cpus: 1, walltime: 10 }) }).create(),
  ),
);
const results: Record<string, string> = {};
for (const job of jobs) {
  const done = await job.wait();
  if (done.status !== 'completed') throw new Error(`job ${job.id} ended ${done.status}: ${done.statusReason}`);
  results[job.name!] = (await job.stdout()).trim();
}
console.log(JSON.stringify(results));
