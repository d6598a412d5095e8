/**
 * Seed tutorial, step 2: a small per-job input file generated from a variable.
 *
 *   npx tsx examples/02-input-file.ts 0.5 1.5 2.5
 *
 * Each job gets its own `sample.in` (written into its job directory before the task runs) and
 * its program reads the parameter from there rather than from the command line.
 */
import { InputFile, Job, Task } from '../src/client/index.js';

const temperatures = process.argv.slice(2);
if (temperatures.length === 0) {
  console.error('usage: 02-input-file.ts TEMPERATURE [TEMPERATURE...]');
  process.exit(2);
}

const jobs = await Promise.all(
  temperatures.map((t) => {
    const sampleIn = `# generated for this job\ntemperature = ${t}\niterations = 10\n`;
    return new Job({
      name: `sample-${t}`,
      inputFiles: [new InputFile('sample.in', sampleIn)],
      // The program: read the value back from sample.in and report it doubled.
      tasks: [new Task(`awk -F' = ' '$1 == "temperature" { printf "temperature %s energy %.2f\\n", $2, $2 * 2 }' sample.in`)],
    }).create();
  }),
);
const energies: Record<string, number> = {};
for (const [i, job] of jobs.entries()) {
  const done = await job.wait();
  if (done.status !== 'completed') throw new Error(`job ${job.id} ended ${done.status}: ${done.statusReason}`);
  const m = /energy (\S+)/.exec(await job.stdout());
  if (!m) throw new Error(`job ${job.id} printed no energy`);
  energies[temperatures[i]!] = Number(m[1]);
}
console.log(JSON.stringify(energies));
