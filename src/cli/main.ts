#!/usr/bin/env node
/**
 * hpc-bridge command line. `serve` runs the daemon: with `--config FILE` on that configuration,
 * otherwise on the embedded default (jobs run on this machine through the direct adapter).
 */
import { Bridge } from '../bridge.js';
import { BridgeError } from '../domain/errors.js';
import { embeddedDefaultSettings } from '../settings/defaults.js';
import { loadSettings } from '../settings/load.js';

function usage(): never {
  process.stderr.write('usage: hpc-bridge serve [--config FILE]\n');
  process.exit(2);
}

async function serve(args: string[]): Promise<void> {
  const i = args.indexOf('--config');
  const file = i >= 0 ? args[i + 1] : process.env.HPCB_CONFIG;
  if (i >= 0 && !file) usage();
  const settings = file ? loadSettings(file) : embeddedDefaultSettings();
  const bridge = Bridge.open(settings);
  bridge.start();
  bridge.log.info({ clusters: settings.clusters.map((c) => `${c.name} (${c.scheduler})`), dataDir: settings.daemon.dataDir, config: settings.sources.daemon }, 'hpc-bridge started');
  const stop = (sig: string) => {
    bridge.log.info({ signal: sig }, 'stopping: jobs on the clusters keep running and resume at the next start');
    void bridge.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return serve(rest);
    default:
      usage();
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof BridgeError ? e.describe() : e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
