/**
 * A daemon in its own process for the notification restart tests (SIGKILL is the crash): a
 * Bridge on the `direct` adapter with the data directory, port and notification settings given
 * on the command line, so a restart finds the same database and outbox. With "token" it creates
 * one for alice and prints it.
 *
 *   node --import tsx daemon-child.ts '{"dataDir": "...", "port": 1234, "token": true, "notifications": {...}}'
 *   prints: `token <t>` (when asked), then `ready`
 */
import { join } from 'node:path';
import { buildApp } from '../../../src/api/app.js';
import { listen } from '../../../src/api/listen.js';
import { TokenStore } from '../../../src/auth/tokens.js';
import { Bridge } from '../../../src/bridge.js';
import { silentLogger } from '../../../src/logging.js';
import { buildSettings } from '../../../src/settings/load.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string; port: number; token?: boolean; notifications: Record<string, unknown> };
const settings = buildSettings({ dataDir: args.dataDir, logLevel: 'silent', notifications: args.notifications }, [
  { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(args.dataDir, 'scratch'), pollIntervalSeconds: 0.5, lostGraceSeconds: 5 } },
]);
const bridge = Bridge.open(settings, { logger: silentLogger() });
if (args.token) console.log(`token ${new TokenStore(bridge.store.tokens).create('alice').token}`);
await listen(buildApp(bridge, { logger: silentLogger() }), { host: '127.0.0.1', port: args.port });
bridge.start();
console.log('ready');
