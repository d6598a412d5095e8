/**
 * `config check`: validate the configuration (every problem at once), then try each cluster.
 */
import { Command, CommanderError } from 'commander';
import { EXIT } from '../exitCodes.js';
import { json, out, type CliStatus } from '../common.js';
import { openDaemonSettings } from '../local.js';

export function registerConfig(program: Command, status: CliStatus): void {
  program
    .command('config')
    .description('configuration')
    .command('check')
    .description('validate a configuration file and its clusters.d (every problem at once), then try each cluster: login and host key, scheduler commands, scratch writable, and each user\'s identity')
    .option('--config <file>', 'default $HPCB_CONFIG')
    .option('--no-connect', 'only validate the files; do not contact the clusters')
    .option('--json', 'JSON output')
    .action(async (o: { config?: string; connect: boolean; json?: boolean }) => {
      const file = o.config ?? process.env.HPCB_CONFIG;
      if (!file) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', 'give --config FILE (or set HPCB_CONFIG)');
      const s = await openDaemonSettings(file);
      // What the files alone cannot show: the Unix accounts local clusters map users to, on this machine.
      const { localAccountReport } = await import('../../settings/localAccount.js');
      const { hostAccounts } = await import('../../transport/index.js');
      const local = localAccountReport(s, hostAccounts());
      for (const w of local.warnings) process.stderr.write(`hpc-bridge: warning: ${w.file}: ${w.key}: ${w.message}\n`);
      // Listed like every other problem of the files (file and key), with the same exit status.
      if (local.problems.length > 0) throw (await import('../../settings/load.js')).configError(local.problems);
      const summary = `ok: ${file}: ${s.clusters.length} cluster(s): ${s.clusters.map((c) => `${c.name} (${c.scheduler})`).join(', ')}`;
      if (!o.connect) return o.json ? json({ valid: true, clusters: [] }) : out(summary);
      const { checkCluster, checkIdentities, formatSteps } = await import('../../ops/check.js');
      // Clusters are independent: check them side by side, report in config order.
      const steps = (await Promise.all(s.clusters.map(async (c) => [...(await checkCluster(c)), ...(await checkIdentities(c, s.daemon))]))).flat();
      if (o.json) json({ valid: true, clusters: steps });
      else out(`${summary}\n${formatSteps(steps)}`);
      if (steps.some((x) => !x.ok)) status.exit = EXIT.ERROR;
    });
}
