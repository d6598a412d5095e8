/**
 * `serve`: run the daemon (src/daemon.ts) in this process.
 */
import type { Command } from 'commander';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the daemon (HTTP API + engine); without --config, the embedded default runs jobs on this machine')
    .option('--config <file>', 'daemon configuration (default $HPCB_CONFIG)')
    .action(async (o: { config?: string }) => {
      // The configuration first: a mistake in it is reported before the daemon's modules load.
      const { openDaemonSettings } = await import('../local.js');
      const settings = await openDaemonSettings(o.config);
      const { runDaemon } = await import('../../daemon.js');
      await runDaemon(settings);
    });
}
