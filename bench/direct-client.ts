/**
 * The SDK side of the `direct` benchmark, in its own process as a user's script would be, so
 * the daemon's CPU time is the daemon's alone. Prints `ready`, waits for `go` on stdin, creates
 * `n` trivial jobs from 16 concurrent creators, prints its CPU per create (stderr) and
 * `created`, and exits.
 *
 *   node --import tsx bench/direct-client.ts '{"url","token","n"}'
 */
import { createInterface } from 'node:readline';
import { Client, Job } from '../src/client/index.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { url: string; token: string; n: number };
const client = new Client({ url: args.url, token: args.token });
const lines = createInterface({ input: process.stdin });
console.log('ready');
await new Promise<void>((resolve) => lines.once('line', () => resolve()));
const cpu0 = process.cpuUsage();
let next = 0;
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (next < args.n) {
      next++;
      await new Job({ tasks: [{ cmd: 'true' }] }, client).create();
    }
  }),
);
const cpu = process.cpuUsage(cpu0);
console.error(`direct: the SDK client ${((cpu.user + cpu.system) / 1000 / args.n).toFixed(2)} ms CPU per create`);
console.log('created');
lines.close();
