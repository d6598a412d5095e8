/**
 * `serve`: run the daemon (src/daemon.ts) in this process.
 */
import { CommanderError, type Command } from 'commander';
import { EXIT } from '../exitCodes.js';

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
      try {
        await runDaemon(settings);
      } catch (e) {
        const l = settings.daemon.listen;
        if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new CommanderError(EXIT.ERROR, 'hpcb.error', `a daemon is already listening on ${l.socket ?? `${l.host}:${l.port}`} (or another program is): stop it, or choose another listen address in the configuration`);
        }
        throw e;
      }
    });
}
