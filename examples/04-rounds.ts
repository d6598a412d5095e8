/**
 * Seed tutorial, step 4: a number read from one round's stdout sets the next round's parameters.
 *
 *   npx tsx examples/04-rounds.ts
 *
 * Round 1 evaluates a function at coarse points; the best point (read from each job's stdout)
 * becomes the centre of a finer round 2. The function, (x - 3.7)^2, stands in for a simulation.
 */
import { Job, Task } from '../src/client/index.js';

async function evaluate(points: number[], round: number): Promise<{ x: number; y: number }[]> {
  const jobs = await Promise.all(
    points.map((x) =>
      new Job({
        name: `round${round}-x${x}`,
        labels: { round: String(round) },
        // A last line with just the number keeps the parsing trivial (no output files needed).
        tasks: [new Task(`echo "evaluating at ${x}"; awk -v x=${x} 'BEGIN { printf "%.6f\\n", (x - 3.7) ^ 2 }'`)],
      }).create(),
    ),
  );
  const out: { x: number; y: number }[] = [];
  for (const [i, job] of jobs.entries()) {
    const done = await job.wait();
    if (done.status !== 'completed') throw new Error(`job ${job.id} ended ${done.status}: ${done.statusReason}`);
    const last = (await job.stdout()).trim().split('\n').at(-1)!;
    out.push({ x: points[i]!, y: Number(last) });
  }
  return out;
}

const best = (r: { x: number; y: number }[]) => r.reduce((a, b) => (b.y < a.y ? b : a));

const round1 = await evaluate([0, 2, 4, 6, 8], 1);
const centre = best(round1).x;
// Round 2: steps of 0.25 around the best coarse point, rounded to avoid 3.7500000001-style names.
const round2Points = [-2, -1, 0, 1, 2].map((k) => Math.round((centre + k * 0.25) * 100) / 100);
const round2 = await evaluate(round2Points, 2);
console.log(JSON.stringify({ round1: best(round1), round2: best(round2), round2Points }));
