/**
 * `stdout`, `stderr`, `outputs` and `download`: what a job (or a workflow) leaves behind.
 */
import { Command, CommanderError } from 'commander';
import { resolve } from 'node:path';
import { HpcBridgeError, Workflow } from '../../client/index.js';
import { EXIT } from '../exitCodes.js';
import { clientFrom, isWorkflowWord, jobId, json, out, workflowId } from '../common.js';
import { formatTable } from '../output.js';
import { downloadWithProgress, follow } from '../transfer.js';

export function registerFiles(program: Command): void {
  for (const which of ['stdout', 'stderr'] as const) {
    program
      .command(which)
      .description(`a task's ${which}`)
      .argument('<id>')
      .option('--task <n>', 'task index (default 0)')
      .option('--offset <bytes>', 'start at this byte')
      .option('-f, --follow', 'keep printing until the job ends')
      .action(async (id: string, o: { task?: string; offset?: string; follow?: boolean }, cmd: Command) => follow(clientFrom(cmd), jobId(id), which, o));
  }

  program
    .command('outputs')
    .description("a job's collected outputs")
    .argument('<id>')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const r = await clientFrom(cmd).listOutputs(jobId(id));
      if (o.json) return json(r);
      out(formatTable(['NAME', 'KIND', 'SIZE', 'SHA256'], r.outputs.map((x) => [x.name, x.kind, String(x.size), x.sha256])));
      for (const p of r.problems) process.stderr.write(`not collected: ${p.name}: ${p.reason}\n`);
    });

  program
    .command('download')
    .description("download a job's outputs (all, or the names given) into a directory; download workflow <id> [dir]: every output of a workflow, as <dir>/<job name>/<index>/<output>")
    .argument('<id>', 'job id, or the word "workflow"')
    .argument('[names...]', 'output names; for a workflow: its id, then the directory')
    .option('-d, --dir <dir>', 'target directory', '.')
    .action(async (id: string, names: string[], o: { dir: string }, cmd: Command) => {
      const client = clientFrom(cmd);
      if (isWorkflowWord(id)) {
        if (names.length > 2) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', 'usage: download workflow <id> [dir]');
        const wf = await Workflow.get(workflowId(names[0]), client);
        const r = await wf.downloadOutputs(names[1] ?? o.dir, { onFile: (path) => out(path) });
        for (const p of r.problems) process.stderr.write(`not collected: ${p.job}[${p.index}] ${p.name}: ${p.reason}\n`);
        return;
      }
      const n = jobId(id);
      const all = (await client.listOutputs(n)).outputs.map((x) => x.name);
      const wanted = names.length ? names : all;
      for (const name of wanted) {
        if (!all.includes(name)) throw new HpcBridgeError('NOT_FOUND', `job ${n} has no output named "${name}"`, 404);
        const target = resolve(o.dir, name);
        const { mkdir } = await import('node:fs/promises');
        await mkdir(resolve(target, '..'), { recursive: true });
        await downloadWithProgress(client, n, name, target);
        out(target);
      }
    });
}
