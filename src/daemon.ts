/**
 * The daemon: open the store and the bridge, serve the API and the metrics, run the scheduled
 * maintenance, and stop all of it on SIGTERM/SIGINT. `hpc-bridge serve` calls runDaemon.
 *
 * Shutdown runs every clean-up in order even when one fails: a server that does not close
 * cleanly must not leave the database unclosed (an unfinished WAL checkpoint) or a backup
 * running. Each failure is logged with the step it came from, and the process exits non-zero
 * so the service manager records that the stop was not clean.
 */
import { buildApp, type App } from './api/app.js';
import { listen } from './api/listen.js';
import { Bridge } from './bridge.js';
import { BridgeError } from './domain/errors.js';
import type { Logger } from './logging.js';
import { Maintenance } from './ops/maintenance.js';
import { Metrics } from './ops/metrics.js';
import { localAccountReport } from './settings/localAccount.js';
import type { Settings } from './settings/schema.js';
import { hostAccounts } from './transport/index.js';

/** One step of the shutdown. */
export interface Cleanup {
  name: string;
  run(): Promise<void> | void;
}

export interface CleanupFailure {
  name: string;
  error: unknown;
}

/** Exit status of a stop in which at least one clean-up failed. */
export const SHUTDOWN_FAILED_EXIT = 1;

/** Run every step in order, each one whether or not an earlier one failed; resolves with the failures. */
export async function runCleanups(steps: readonly Cleanup[], log: Logger): Promise<CleanupFailure[]> {
  const failures: CleanupFailure[] = [];
  for (const step of steps) {
    try {
      await step.run();
    } catch (error) {
      failures.push({ name: step.name, error });
      log.error({ step: step.name, err: error instanceof BridgeError ? error.toJSON() : error instanceof Error ? error.message : String(error) }, 'shutdown step failed; continuing with the next');
    }
  }
  return failures;
}

export interface RunningDaemon {
  bridge: Bridge;
  /** Where the API listens (http(s)://host:port or unix:<path>). */
  url: string;
  /** Stop everything; resolves with the exit status (0, or SHUTDOWN_FAILED_EXIT). Never rejects. */
  stop(): Promise<number>;
}

export interface DaemonOptions {
  /** Where the daemon logs; by default stdout at the configured level. */
  logger?: Logger;
}

export async function startDaemon(settings: Settings, opts: DaemonOptions = {}): Promise<RunningDaemon> {
  const bridge = Bridge.open(settings, opts.logger ? { logger: opts.logger } : {});
  bridge.start();
  const metrics = new Metrics();
  const maintenance = new Maintenance({ store: bridge.store, settings, log: bridge.log.child({ component: 'maintenance' }), runtime: (c) => bridge.reconciler(c)?.rt });
  metrics.addSource((w) => {
    w.family('hpcb_maintenance_last_run_timestamp_seconds', 'gauge', 'When each maintenance task last finished (Unix time), and whether it succeeded.');
    for (const [task, r] of Object.entries(maintenance.last)) w.sample('hpcb_maintenance_last_run_timestamp_seconds', { task, ok: String(r.ok) }, r.at / 1000);
  });
  const app = buildApp(bridge, { logger: bridge.log.child({ component: 'api' }), metrics });
  let server;
  try {
    server = await listen(app, settings.daemon.listen);
  } catch (e) {
    await bridge.close();
    throw e;
  }
  const dashboard = await startDashboard(app, settings.daemon.dashboard, bridge.log);
  maintenance.start();
  // A local cluster that may run jobs as root, or maps users to accounts this daemon cannot take.
  const local = localAccountReport(settings, hostAccounts());
  for (const w of local.warnings) bridge.log.warn({ file: w.file, key: w.key }, w.message);
  for (const p of local.problems) bridge.log.warn({ file: p.file, key: p.key }, `${p.message}; jobs of this user there are refused`);
  bridge.log.info(
    { clusters: settings.clusters.map((c) => `${c.name} (${c.scheduler})`), dataDir: settings.daemon.dataDir, config: settings.sources.daemon, url: server.url, dashboard: dashboard?.url ?? null },
    'hpc-bridge started',
  );
  const listening = server;
  return {
    bridge,
    url: listening.url,
    async stop() {
      // Stop accepting requests first, answer pending long-polls, then close SSH and the database.
      // A maintenance task in progress (a backup, a scratch clean-up) finishes before the database closes.
      const failures = await runCleanups(
        [
          { name: 'close the API server', run: () => listening.close() },
          { name: 'close the dashboard server', run: async () => dashboard?.close() },
          { name: 'stop maintenance', run: () => maintenance.stop() },
          { name: 'close the bridge (engine, SSH, database)', run: () => bridge.close() },
        ],
        bridge.log,
      );
      return failures.length === 0 ? 0 : SHUTDOWN_FAILED_EXIT;
    },
  };
}

/** The dashboard beside the API; a port it cannot have is logged, and the daemon runs without it. */
async function startDashboard(app: App, cfg: { enabled: boolean; host: string; port: number }, log: Logger) {
  if (!cfg.enabled) return undefined;
  const { listenDashboard } = await import('./api/dashboard.js');
  try {
    return await listenDashboard(app, cfg);
  } catch (e) {
    log.warn({ host: cfg.host, port: cfg.port, err: (e as Error).message }, 'dashboard not started');
    return undefined;
  }
}

/** Start the daemon and stop it on SIGTERM or SIGINT, exiting with the stop's status. */
export async function runDaemon(settings: Settings, exit: (code: number) => void = (code) => process.exit(code), opts: DaemonOptions = {}): Promise<RunningDaemon> {
  const daemon = await startDaemon(settings, opts);
  const stop = (sig: string) => {
    daemon.bridge.log.info({ signal: sig }, 'stopping: jobs on the clusters keep running and resume at the next start');
    void daemon.stop().then(exit);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return daemon;
}
