/**
 * Workflows as code: a parameter sweep, the best point picked from the sweep's output files,
 * then a finer sweep around it, twice.
 *
 *   npx tsx examples/06-iterative-sweep.ts
 *
 * Each round is one workflow whose sweep job runs once per point (on Slurm: one job array, one
 * sbatch). Every instance writes its value to `y.<x>.txt`; this script reads those files back
 * through the SDK (`getOutputFile`) and decides the next round's range. The function,
 * (x - 3.72)^2, stands in for a simulation; its minimum needs all three rounds to find.
 */
import { Job, ParameterSweep, Task, Workflow } from '../src/client/index.js';

const sweepJob = () =>
  new Job({
    name: 'evaluate',
    resources: { cpus: 1, memory: 0.1, walltime: 5 },
    // `$x` is substituted per instance, in the command and in the output file name.
    tasks: [new Task(`awk -v x=$x 'BEGIN { printf "%.8f\\n", (x - 3.72) ^ 2 }' > y.$x.txt`)],
    outputFiles: ['y.$x.txt'],
  });

interface Point {
  x: number;
  y: number;
}

async function round(n: number, start: number, end: number, step: number): Promise<Point[]> {
  const job = sweepJob();
  const wf = await new Workflow({ name: `refine-${n}`, labels: { example: '06', round: String(n) }, jobs: [job], factories: [new ParameterSweep(job, [{ name: 'x', start, end, step }])] }).create();
  const done = await wf.wait();
  if (done.status !== 'completed') throw new Error(`round ${n} (workflow ${wf.id}) ended ${done.status}: ${JSON.stringify(done.progress)}`);
  const points: Point[] = [];
  for (const inst of done.jobs) {
    const x = inst.parameters.x!;
    const y = Number((await (await wf.job(inst.name, inst.index)).getOutputFile(`y.${x}.txt`)).toString('utf8'));
    points.push({ x: Number(x), y });
  }
  return points;
}

const best = (points: Point[]) => points.reduce((a, b) => (b.y < a.y ? b : a));
// Round the next range to the step's decimals, so 3.7 - 0.05 is 3.65 in file names, not 3.6500000000000004.
const at = (v: number, decimals: number) => Number(v.toFixed(decimals));

const rounds: { range: [number, number, number]; points: number; best: Point }[] = [];
let range: [number, number, number] = [0, 8, 1];
for (let n = 1; n <= 3; n++) {
  const points = await round(n, ...range);
  const b = best(points);
  rounds.push({ range, points: points.length, best: b });
  // Next round: ten times finer, half a coarse step either side of the best point.
  const step = range[2] / 10;
  const d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  range = [at(b.x - 5 * step, d), at(b.x + 5 * step, d), at(step, d)];
}
console.log(JSON.stringify({ rounds, best: rounds.at(-1)!.best }));
