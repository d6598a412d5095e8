/**
 * A bridge daemon in its own process for burst tests that SIGKILL it at random moments: it
 * uploads one shared artifact (unless a previous life already stored it), submits the jobs of a
 * plan file one by one with idempotency keys (a restarted life re-submits the same list and
 * creates nothing new), and runs the reconciler.
 * usage: node --import tsx daemon-burst-proc.ts <config.json> <plan.json>
 * plan.json: { owner, artifact: { name, path }, jobs: [{ key, definition }], paceMs }
 */
import { createReadStream, readFileSync } from 'node:fs';
import { Bridge } from '../../../src/bridge.js';
import { buildSettings } from '../../../src/settings/load.js';

interface Plan {
  owner: string;
  artifact: { name: string; path: string };
  jobs: { key: string; definition: unknown }[];
  /** Pause between submissions, so kills also land in the middle of the burst. */
  paceMs: number;
}

const [file, planFile] = process.argv.slice(2);
const raw = JSON.parse(readFileSync(file!, 'utf8')) as { daemon: unknown; cluster: unknown };
const plan = JSON.parse(readFileSync(planFile!, 'utf8')) as Plan;
const settings = buildSettings(raw.daemon, [{ file: file!, raw: raw.cluster }]);
const bridge = Bridge.open(settings);
const stop = () => void bridge.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

if (!bridge.staging.getArtifact(plan.owner, plan.artifact.name)) {
  await bridge.staging.putArtifact(plan.owner, plan.artifact.name, createReadStream(plan.artifact.path));
}
bridge.start();
process.stdout.write('ready\n');
let created = 0;
for (const j of plan.jobs) {
  if (bridge.submit(plan.owner, j.definition, { idempotencyKey: j.key }).created) created++;
  if (plan.paceMs > 0) await new Promise((r) => setTimeout(r, plan.paceMs));
}
process.stdout.write(`submitted ${created}\n`);
