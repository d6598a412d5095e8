/**
 * `clusters`: the configured clusters and whether the daemon reaches them.
 */
import type { Command } from 'commander';
import { clientFrom, json, out } from '../common.js';
import { formatTable } from '../output.js';

export function registerClusters(program: Command): void {
  program
    .command('clusters')
    .description('configured clusters and whether they are reachable')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await clientFrom(cmd).clusters();
      if (o.json) return json(list);
      // The same view as /healthz: reachable is "unknown" until the cluster's first poll.
      const since = (t: string | null) => (t ? t.slice(0, 19).replace('T', ' ') : '');
      out(formatTable(['NAME', 'SCHEDULER', 'REACHABLE', 'LAST OK', 'LAST ERROR'], list.map((c) => [c.name, c.scheduler, c.reachable === null ? 'unknown' : c.reachable ? 'yes' : 'no', since(c.lastOkAt), c.lastError ?? ''])));
    });
}
