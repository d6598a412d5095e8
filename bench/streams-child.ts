/**
 * The daemon for the event-stream rows, in its own process so its CPU time is its own (the
 * streams' readers and the job creators run in the parent). Direct cluster, 1 s poll, a stream
 * cap above the largest measured count. Prints `{"url","token"}`; then answers each `cpu` line
 * on stdin with `{"cpuMs","streamReads","streams"}` and exits on `stop`.
 *
 *   node --import tsx bench/streams-child.ts '{"dataDir": "..."}'
 */
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildApp } from '../src/api/app.js';
import { listen } from '../src/api/listen.js';
import { TokenStore } from '../src/auth/tokens.js';
import { Bridge } from '../src/bridge.js';
import { silentLogger } from '../src/logging.js';
import { buildSettings } from '../src/settings/load.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string };
const settings = buildSettings({ dataDir: args.dataDir, logLevel: 'silent' }, [
  { file: '(bench)', raw: { name: 'local', scheduler: 'direct', transport: 'local', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(args.dataDir, 'scratch'), pollIntervalSeconds: 1 } },
]);
const bridge = Bridge.open(settings, { logger: silentLogger() });
const token = new TokenStore(bridge.store.tokens).create('bench').token;
const app = buildApp(bridge, { logger: silentLogger(), maxStreamsPerUser: 1000, maxStreams: 2000 });
const server = await listen(app, { host: '127.0.0.1', port: 0 });
bridge.start();
console.log(JSON.stringify({ url: server.url, token }));
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l === 'cpu') {
    const c = process.cpuUsage();
    console.log(JSON.stringify({ cpuMs: (c.user + c.system) / 1000, streamReads: app.hub.reads, streams: app.hub.streamCount }));
  } else if (l === 'stop') {
    void server.close().then(() => bridge.close()).then(() => process.exit(0));
  }
});
