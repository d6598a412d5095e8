/**
 * A bridge daemon in its own process for the large round-trip test, so that the resident memory
 * measured is the daemon's alone (not the test runner's, nor the test's own file handling).
 * It takes the upload as a stream the way the API will hand it over, runs one job that copies the
 * artifact to an output, streams that output back to a file the way a download would, and prints
 * one JSON line: { status, reason, output: {size, sha256}, baselineRss, peakRss }.
 * usage: node --import tsx daemon-roundtrip-proc.ts <config.json> <source file> <sha256> <write output to>
 */
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Bridge } from '../../../src/bridge.js';
import { buildSettings } from '../../../src/settings/load.js';

const [file, src, want, back] = process.argv.slice(2) as [string, string, string, string];
const raw = JSON.parse(readFileSync(file, 'utf8')) as { daemon: unknown; cluster: { name: string } };
const settings = buildSettings(raw.daemon, [{ file, raw: raw.cluster }]);
const bridge = Bridge.open(settings);
bridge.start();
// Connected and idle before the baseline: the connection's own buffers are not staging's.
await bridge.reconciler(raw.cluster.name)!.rt.transport.exec(['true']);
const baselineRss = process.memoryUsage().rss;
let peakRss = baselineRss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 100);
await bridge.staging.putArtifact('alice', 'big.bin', createReadStream(src), { expectedSha256: want });
const { job } = bridge.submit('alice', { tasks: [{ cmd: 'cp big.bin copy.bin' }], artifacts: [{ url: 'big.bin' }], outputFiles: ['copy.bin'] });
const done = await bridge.wait(job.id, 1_800_000);
const output = bridge.staging.listOutputs(job.id, 'alice').outputs.find((o) => o.name === 'copy.bin');
if (output) await pipeline((await bridge.staging.openOutput(job.id, 'alice', 'copy.bin')).stream, createWriteStream(back));
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
process.stdout.write(`${JSON.stringify({ status: done.status, reason: done.statusReason, output: output ?? null, baselineRss, peakRss })}\n`);
await bridge.close();
process.exit(0);
