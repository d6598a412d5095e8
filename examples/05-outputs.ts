/**
 * Seed tutorial, step 5: output files loaded into memory and saved to a path.
 *
 *   npx tsx examples/05-outputs.ts ./results
 *
 * The job writes a text file and a binary file. The text one is read into memory (as a string);
 * the binary one is fetched as bytes (a Buffer, byte-exact) and also saved under the directory
 * given (streamed to disk, checksum verified).
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { Job, Task } from '../src/client/index.js';

const dir = resolve(process.argv[2] ?? 'results');

const job = await new Job({
  name: 'outputs',
  tasks: [new Task(`echo "mean = 42.5" > summary.txt; head -c 65536 /dev/urandom > field.bin`)],
  outputFiles: ['summary.txt', 'field.bin'],
}).create();
const done = await job.wait();
if (done.status !== 'completed') throw new Error(`job ${job.id} ended ${done.status}: ${done.statusReason}`);

const summary = await job.getOutputText('summary.txt');
const mean = Number(/mean = (\S+)/.exec(summary)?.[1]);
const bytes = await job.getOutputFile('field.bin');
const saved = await job.getOutputFile('field.bin', { saveAs: join(dir, 'field.bin') });
const listed = (await job.listOutputs()).outputs.find((o) => o.name === 'field.bin')!;
console.log(
  JSON.stringify({
    jobId: job.id,
    mean,
    inMemory: { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
    daemon: { size: listed.size, sha256: listed.sha256 },
    saved,
  }),
);
