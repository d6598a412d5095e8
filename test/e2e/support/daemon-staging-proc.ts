/**
 * A bridge daemon in its own process for the stage-out crash test: it submits one job with many
 * outputs (idempotency key, so a restart creates nothing new) and, when HPCB_PAUSE_AFTER=n is set,
 * stops dead after storing n outputs and prints "paused", so the test can SIGKILL it in the
 * middle of a stage-out at a known point instead of racing it. It prints "stored <name>" for every
 * output it stores, and its staging counters ("stats {...}") when stopped with SIGTERM.
 * usage: node --import tsx daemon-staging-proc.ts <config.json>
 */
import { readFileSync } from 'node:fs';
import { Bridge } from '../../../src/bridge.js';
import { buildSettings } from '../../../src/settings/load.js';

const [file] = process.argv.slice(2);
const raw = JSON.parse(readFileSync(file!, 'utf8')) as { daemon: unknown; cluster: unknown };
const settings = buildSettings(raw.daemon, [{ file: file!, raw: raw.cluster }]);
const pauseAfter = Number(process.env.HPCB_PAUSE_AFTER ?? 0);
let stored = 0;
const bridge = Bridge.open(settings, {
  stagingOptions: {
    onOutputStored: async (_jobId, name) => {
      // One line per output or log brought back and stored, so the test counts what each life
      // of the daemon fetched.
      process.stdout.write(`stored ${name}\n`);
      if (pauseAfter > 0 && ++stored === pauseAfter) {
        process.stdout.write('paused\n');
        await new Promise(() => {}); // never resumes: the test kills this process here
      }
    },
  },
});
const { job } = bridge.submit(
  'alice',
  { name: 'many-outputs', tasks: [{ cmd: 'for i in $(seq -w 1 30); do head -c 65536 /dev/urandom > "out.$i.bin"; done; echo made' }], outputFiles: ['out.*.bin'] },
  { idempotencyKey: 'many-outputs' },
);
bridge.start();
process.stdout.write(`job ${job.id}\n`);
// The staging counters of this life (downloads and their bytes), for the test to compare with
// the "stored" lines and the records.
const stop = () => {
  process.stdout.write(`stats ${JSON.stringify(bridge.staging.stats())}\n`);
  void bridge.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
