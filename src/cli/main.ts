#!/usr/bin/env node
/**
 * hpc-bridge command line.
 *
 * `serve`, `token` and `config check` work on this machine (the daemon itself, its database,
 * its configuration); every other command is a client of a running daemon over HTTP, through
 * the same SDK that scripts use (src/client), with the URL and token from --url/--token or
 * HPC_BRIDGE_URL/HPC_BRIDGE_TOKEN. The daemon-side modules are imported lazily so that client
 * commands never load ssh2 or better-sqlite3. Each command lives in its own module under
 * commands/; the daemon itself is wired in src/daemon.ts.
 */
import { Command, CommanderError, Option } from 'commander';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { HpcBridgeError } from '../client/index.js';
import { EXIT, exitCodeFor, EXIT_CODES_HELP } from './exitCodes.js';
import { registerArtifacts } from './commands/artifacts.js';
import { registerClusters } from './commands/clusters.js';
import { registerConfig } from './commands/config.js';
import { registerFiles } from './commands/files.js';
import { registerInJob } from './commands/inJob.js';
import { registerInspect } from './commands/inspect.js';
import { registerKv } from './commands/kv.js';
import { registerManage } from './commands/manage.js';
import { registerRun } from './commands/run.js';
import { registerServe } from './commands/serve.js';
import { registerToken } from './commands/token.js';

/** `status.exit` carries an action's exit code (wait, run --wait) back to `main`. */
export function buildProgram(status: { exit: number } = { exit: 0 }): Command {
  const program = new Command('hpc-bridge')
    .description('Run job definitions on Slurm, PBS and direct clusters through the hpc-bridge daemon')
    .addOption(new Option('--url <url>', 'daemon URL').env('HPC_BRIDGE_URL'))
    .addOption(new Option('--token <token>', 'API token').env('HPC_BRIDGE_TOKEN'))
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .showHelpAfterError()
    .exitOverride();

  // Registered in this order, which is the order `--help` lists them in.
  registerServe(program);
  registerRun(program, status);
  registerInspect(program, status);
  registerFiles(program);
  registerInJob(program, status);
  registerManage(program, status);
  registerArtifacts(program);
  registerKv(program);
  registerClusters(program);
  registerToken(program);
  registerConfig(program, status);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const status = { exit: EXIT.OK as number };
  const program = buildProgram(status);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return status.exit;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      if (e.code === 'hpcb.usage' || e.code === 'hpcb.error') process.stderr.write(`error: ${e.message}\n`);
      // hpcb.error: a plain failure with its own exit code, told in one line (no stack trace).
      return e.code === 'hpcb.error' ? e.exitCode : EXIT.USAGE;
    }
    const { BridgeError } = await import('../domain/errors.js');
    if (e instanceof HpcBridgeError) process.stderr.write(`error: ${e.code}: ${e.message}${e.field ? ` (field ${e.field})` : ''}\n`);
    else if (e instanceof BridgeError) process.stderr.write(`${e.describe()}\n`);
    else process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    return exitCodeFor(e);
  }
}

// Run only as the entry point (also through npm's bin symlink), so tests can import main().
const entry = process.argv[1] ? realpathSync(resolve(process.argv[1])) : '';
if (entry === fileURLToPath(import.meta.url)) {
  void main(process.argv.slice(2)).then((code) => {
    // `serve` keeps running after main returns; everything else exits with its code.
    if (process.argv[2] !== 'serve' || code !== EXIT.OK) process.exit(code);
  });
}
