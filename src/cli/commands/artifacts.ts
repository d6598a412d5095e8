/**
 * `upload` and `artifacts`: the caller's named files on the daemon.
 */
import type { Command } from 'commander';
import { clientFrom, json, out } from '../common.js';
import { formatTable } from '../output.js';
import { uploadWithProgress } from '../transfer.js';

export function registerArtifacts(program: Command): void {
  program
    .command('upload')
    .description('upload a local file as an artifact (checksummed, streamed)')
    .argument('<name>')
    .argument('<file>')
    .option('--json', 'JSON output')
    .action(async (name: string, file: string, o: { json?: boolean }, cmd: Command) => {
      const a = await uploadWithProgress(clientFrom(cmd), name, file);
      if (o.json) json(a);
      else out(`${a.name}  ${a.size} bytes  sha256 ${a.sha256}`);
    });

  const artifacts = program
    .command('artifacts')
    .description('list your artifacts')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await clientFrom(cmd).listArtifacts();
      if (o.json) return json(list);
      out(formatTable(['NAME', 'SIZE', 'SHA256', 'CREATED'], list.map((a) => [a.name, String(a.size), a.sha256, a.createdAt])));
    });
  artifacts
    .command('delete')
    .description('delete an artifact')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await clientFrom(cmd).deleteArtifact(name);
      out(`deleted ${name}`);
    });
}
