/**
 * Seed tutorial, step 3: a large input uploaded once and used by several jobs.
 *
 *   npx tsx examples/03-artifact.ts [path/to/data.txt]
 *
 * Without a path it writes a data file of 200,000 numbered lines first. The file is uploaded
 * once as the artifact `table.txt` (streamed, with its SHA-256 checked by the daemon); three
 * jobs then each read a different slice of it. The daemon copies the bytes to each cluster
 * once, however many jobs use them.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Artifact, Job, Task } from '../src/client/index.js';

let path = process.argv[2];
if (!path) {
  path = join(tmpdir(), `hpcb-example-table-${process.pid}.txt`);
  writeFileSync(path, Array.from({ length: 200_000 }, (_, i) => `${i + 1}`).join('\n') + '\n');
}

const table = new Artifact('table.txt');
const uploaded = await table.upload(path, {
  onProgress: (done, total) => {
    if (done === total) console.error(`uploaded ${done} bytes`);
  },
});

const slices = [
  [1, 1000],
  [1001, 100000],
  [100001, 200000],
] as const;
const jobs = await Promise.all(
  slices.map(([from, to]) =>
    new Job({
      name: `slice-${from}-${to}`,
      artifacts: [table],
      tasks: [new Task(`awk -v a=${from} -v b=${to} 'NR >= a && NR <= b { s += $1 } END { print s }' table.txt`)],
    }).create(),
  ),
);
const sums: number[] = [];
for (const job of jobs) {
  const done = await job.wait();
  if (done.status !== 'completed') throw new Error(`job ${job.id} ended ${done.status}: ${done.statusReason}`);
  sums.push(Number((await job.stdout()).trim()));
}
console.log(JSON.stringify({ artifact: { name: uploaded.name, size: uploaded.size, sha256: uploaded.sha256 }, sums }));
