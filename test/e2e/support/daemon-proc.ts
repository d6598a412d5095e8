/**
 * A bridge daemon in its own process, so tests can kill it with SIGKILL at any instant.
 * usage: node --import tsx daemon-proc.ts <config.json> [count-to-submit] [prefix]
 * config.json: { "daemon": {...}, "cluster": {...} } as accepted by buildSettings.
 */
import { readFileSync } from 'node:fs';
import { Bridge } from '../../../src/bridge.js';
import { buildSettings } from '../../../src/settings/load.js';

const [file, countArg, prefix = 'job'] = process.argv.slice(2);
const raw = JSON.parse(readFileSync(file!, 'utf8')) as { daemon: unknown; cluster: unknown };
const settings = buildSettings(raw.daemon, [{ file: file!, raw: raw.cluster }]);
const bridge = Bridge.open(settings);
const count = Number(countArg ?? 0);
for (let i = 0; i < count; i++) {
  // The idempotency key makes a re-run of this loop after a crash create nothing new.
  bridge.submit('alice', { name: `${prefix}-${i}`, tasks: [{ cmd: `echo ${prefix}-${i}` }] }, { idempotencyKey: `${prefix}-${i}` });
}
bridge.start();
process.stdout.write('ready\n');
const stop = () => void bridge.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
