/**
 * Stop a sweep early: watch every instance's intermediate result while it runs, and once one is
 * good enough, keep it and cancel the rest.
 *
 *   npx tsx examples/07-early-stop.ts
 *
 * Each instance is a long iterative run (here 300 half-second steps, two and a half minutes)
 * that appends `<step> <loss>` to `progress.txt` as it goes. This script reads that file from
 * every running instance with `job.snapshot()` (the file as it is now, straight from the job's
 * directory on the cluster) and, as soon as one instance's loss is below the target, saves that
 * snapshot and deletes the workflow, which cancels every instance still running. Only the
 * damping of 0.3 can reach the target; the others level off above it and would run to the end.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HpcBridgeError, Job, ParameterSweep, Task, Workflow } from '../src/client/index.js';

const TARGET = 0.05;
const dir = resolve(process.argv[2] ?? 'results');

const run = new Job({
  name: 'relax',
  resources: { cpus: 1, memory: 0.1, walltime: 10 },
  // The loss levels off at |damping - 0.3|, so only 0.3 gets below the target (after 20 steps).
  tasks: [
    new Task(
      'for i in $(seq 1 300); do ' +
        `awk -v d=$damping -v i=$i 'BEGIN { l = (d > 0.3 ? d - 0.3 : 0.3 - d) + 1 / i; printf "%d %.6f\\n", i, l }' >> progress.txt; ` +
        'sleep 0.5; done',
    ),
  ],
});
const wf = await new Workflow({
  name: 'early-stop',
  labels: { example: '07' },
  jobs: [run],
  factories: [new ParameterSweep(run, [{ name: 'damping', start: 0.1, end: 0.4, step: 0.1 }])],
}).create();

/** The last whole line of an instance's progress file, or undefined while there is none yet. */
async function latest(job: Job): Promise<{ step: number; loss: number; text: string } | undefined> {
  let text: string;
  try {
    text = await job.snapshotText('progress.txt');
  } catch (e) {
    // Not started yet (409) or nothing written yet (404): look again on the next round.
    if (e instanceof HpcBridgeError && (e.status === 404 || e.status === 409)) return undefined;
    throw e;
  }
  const line = text.slice(0, text.lastIndexOf('\n')).split('\n').at(-1);
  const m = /^(\d+) (\S+)$/.exec(line ?? '');
  return m ? { step: Number(m[1]), loss: Number(m[2]), text } : undefined;
}

const view = await wf.refresh();
const instances = await Promise.all(view.jobs.map(async (j) => ({ damping: j.parameters.damping!, job: await wf.job(j.name, j.index) })));
let winner: { damping: string; step: number; loss: number; saved: string } | undefined;
while (!winner) {
  const { status } = await wf.refresh();
  if (status !== 'running' && status !== 'pending') throw new Error(`the sweep ended (${status}) before any instance reached a loss of ${TARGET}`);
  for (const { damping, job } of instances) {
    const now = await latest(job);
    if (now && now.loss <= TARGET) {
      await mkdir(dir, { recursive: true });
      const saved = await job.snapshot('progress.txt', { saveAs: join(dir, `progress-${damping}.txt`) });
      winner = { damping, step: now.step, loss: now.loss, saved };
      break;
    }
  }
  if (!winner) await new Promise((r) => setTimeout(r, 1000));
}

// Good enough: cancel everything still running, then wait until the cancellations are recorded.
await wf.delete();
const ended = await wf.wait();
console.log(
  JSON.stringify({
    workflow: wf.id,
    winner,
    instances: ended.jobs.map((j) => ({ damping: j.parameters.damping, status: j.status })),
  }),
);
