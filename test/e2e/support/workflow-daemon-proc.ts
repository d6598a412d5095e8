/**
 * A bridge daemon in its own process for workflow crash tests (SIGKILL at any instant).
 * usage: node --import tsx workflow-daemon-proc.ts <config.json> [workflow.json]
 * With a workflow file it creates that workflow first (the first life only; a restarted daemon
 * is given none, so nothing is created twice) and prints its id; then it runs until killed.
 */
import { readFileSync } from 'node:fs';
import { Bridge } from '../../../src/bridge.js';
import { buildSettings } from '../../../src/settings/load.js';

const [file, workflowFile] = process.argv.slice(2);
const raw = JSON.parse(readFileSync(file!, 'utf8')) as { daemon: unknown; cluster: unknown };
const bridge = Bridge.open(buildSettings(raw.daemon, [{ file: file!, raw: raw.cluster }]));
if (workflowFile) {
  const wf = bridge.submitWorkflow('alice', JSON.parse(readFileSync(workflowFile, 'utf8')));
  process.stdout.write(`workflow ${wf.id}\n`);
}
bridge.start();
process.stdout.write('ready\n');
const stop = () => void bridge.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
