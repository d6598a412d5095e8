/**
 * A daemon in its own process for the SDK restart tests: a Bridge on the `direct` adapter with
 * its data directory and port given on the command line, so a restart finds the same database,
 * jobs and address. SIGTERM closes it the way `hpc-bridge serve` does (API first, then the
 * engine); SIGKILL is the crash. With "token" it creates one for alice and prints it.
 *
 *   node --import tsx daemon-child.ts '{"dataDir": "...", "port": 1234, "token": true}'
 *   prints: `token <t>` (when asked), then `ready`
 */
import { join } from 'node:path';
import { buildApp } from '../../../../src/api/app.js';
import { listen } from '../../../../src/api/listen.js';
import { TokenStore } from '../../../../src/auth/tokens.js';
import { Bridge } from '../../../../src/bridge.js';
import { silentLogger } from '../../../../src/logging.js';
import { buildSettings } from '../../../../src/settings/load.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string; port: number; token?: boolean };
const settings = buildSettings({ dataDir: args.dataDir, logLevel: 'silent' }, [
  { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(args.dataDir, 'scratch'), pollIntervalSeconds: 0.5, lostGraceSeconds: 5 } },
]);
const bridge = Bridge.open(settings, { logger: silentLogger() });
if (args.token) console.log(`token ${new TokenStore(bridge.store.tokens).create('alice').token}`);
const server = await listen(buildApp(bridge, { logger: silentLogger() }), { host: '127.0.0.1', port: args.port });
bridge.start();
console.log('ready');
process.once('SIGTERM', () => {
  void (async () => {
    await server.close();
    await bridge.close();
    process.exit(0);
  })();
});
