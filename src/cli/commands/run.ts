/**
 * `run`: submit a job from a file or from flags and a command line, or a workflow from a file;
 * `--dry-run` shows the batch script instead, `--wait` waits and exits like `wait`.
 */
import { Command, CommanderError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Client, Workflow, type JobDefinition, type WorkflowView } from '../../client/index.js';
import { EXIT } from '../exitCodes.js';
import { clientFrom, collect, json, num, out, parseKv, type CliStatus } from '../common.js';
import { uploadWithProgress } from '../transfer.js';
import { exitForStatus, exitForWorkflow, jobStatusLine, progressText } from '../views.js';

interface RunOpts {
  name?: string;
  cpus?: string;
  memory?: string;
  nodes?: string;
  walltime?: string;
  gpus?: string;
  input?: string[];
  artifact?: string[];
  output?: string[];
  outputDir?: string[];
  label?: string[];
  env?: string[];
  cluster?: string;
  queue?: string;
  account?: string;
  dryRun?: boolean;
  wait?: boolean;
  file?: string;
}

/**
 * A job or workflow file. JSON is YAML too, but the YAML parser takes seconds per 10 MB where
 * JSON.parse takes milliseconds, so a .json file is read as JSON.
 */
function readDefinitionFile(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  return file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
}

/** The job definition of `run`: from a JSON/YAML file, or from flags and the command after `--`. */
async function definitionFor(o: RunOpts, command: string[], client: Client, dryRun: boolean): Promise<JobDefinition> {
  if (o.file) {
    const doc = readDefinitionFile(o.file) as Record<string, unknown>;
    return doc as unknown as JobDefinition;
  }
  if (command.length === 0) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', 'give a job file with --file, or a command after --');
  // Each argument is quoted for the shell so `-- ./simulate "a b"` runs with the same argv.
  const cmd = command.map((a) => (/^[A-Za-z0-9_./=:,+@%-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  const artifacts: { url: string }[] = [];
  for (const a of o.artifact ?? []) {
    if (existsSync(a) && !dryRun) {
      // A local file: upload it under its base name first, then refer to it.
      const name = basename(a);
      process.stderr.write(`uploading ${a} as artifact ${name}\n`);
      await uploadWithProgress(client, name, a);
      artifacts.push({ url: name });
    } else {
      artifacts.push({ url: existsSync(a) ? basename(a) : a });
    }
  }
  const resources = Object.fromEntries(
    Object.entries({ cpus: num(o.cpus, 'cpus'), memory: num(o.memory, 'memory'), nodes: num(o.nodes, 'nodes'), walltime: num(o.walltime, 'walltime'), gpus: num(o.gpus, 'gpus') }).filter(([, v]) => v !== undefined),
  );
  const env = parseKv(o.env, '--env');
  const labels = parseKv(o.label, '--label');
  const def: JobDefinition = { tasks: [{ cmd, ...(env ? { env } : {}) }] };
  if (o.name) def.name = o.name;
  if (labels) def.labels = labels;
  if (Object.keys(resources).length) def.resources = resources;
  if (o.input?.length) def.inputs = o.input.map((f) => ({ filename: basename(f), content: readFileSync(f).toString('base64') }));
  if (artifacts.length) def.artifacts = artifacts;
  if (o.output?.length) def.outputFiles = o.output;
  if (o.outputDir?.length) def.outputDirs = o.outputDir;
  if (o.cluster) def.cluster = o.cluster;
  if (o.queue) def.queue = o.queue;
  if (o.account) def.account = o.account;
  return def;
}

export function registerRun(program: Command, status: CliStatus): void {
  program
    .command('run')
    .description('submit a job or a workflow (a file with "jobs") from a JSON/YAML file (--file), or a one-liner: hpc-bridge run --cpus 4 -- ./simulate --steps 200')
    .argument('[command...]', 'the command to run (after --)')
    .option('-f, --file <file>', 'job definition (JSON or YAML)')
    .option('--name <name>')
    .option('--cpus <n>', 'CPUs per node')
    .option('--memory <gb>', 'GB per node')
    .option('--nodes <n>')
    .option('--walltime <minutes>')
    .option('--gpus <n>')
    .option('--input <file>', 'small local file written into the job directory (repeatable)', collect)
    .option('--artifact <name|file>', 'uploaded artifact name, or a local file to upload first (repeatable)', collect)
    .option('--output <pattern>', 'output file or glob to collect (repeatable)', collect)
    .option('--output-dir <dir>', 'output directory to collect as <dir>.tar.gz (repeatable)', collect)
    .option('--label <k=v>', 'label (repeatable)', collect)
    .option('--env <K=V>', 'environment variable (repeatable)', collect)
    .option('--cluster <name>')
    .option('--queue <name>')
    .option('--account <name>')
    .option('--dry-run', 'print the definition and the batch script it becomes; submit nothing')
    .option('--wait', 'wait for the job and exit like `wait`')
    .option('--json', 'print {id} as JSON; with --wait, the final job')
    .action(async (command: string[], o: RunOpts & { json?: boolean }, cmd: Command) => {
      const client = clientFrom(cmd);
      // A file with "jobs" is a workflow (a job definition has "tasks", never "jobs").
      const doc = o.file ? readDefinitionFile(o.file) : undefined;
      if (doc && typeof doc === 'object' && 'jobs' in doc) {
        if (o.dryRun) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', '--dry-run shows one job\'s batch script; it does not apply to a workflow file');
        // Sent as written, so the daemon's strict validation sees every field (a typo is an error).
        const created = (await (await client.request('POST', '/workflows', { json: doc })).json()) as WorkflowView;
        const wf = await Workflow.get(created.id, client);
        if (o.json) json({ id: wf.id });
        else out(`Workflow created with id ${wf.id} (${created.progress.total} jobs)`);
        if (o.wait) {
          const v = await wf.wait();
          if (!o.json) out(`workflow ${v.id}: ${v.status} (${progressText(v)})`);
          status.exit = exitForWorkflow(v);
        }
        return;
      }
      const def = await definitionFor(o, command, client, !!o.dryRun);
      if (o.dryRun) {
        const r = await client.renderJob(def);
        out(`# definition (cluster ${r.cluster}, ${r.scheduler})`);
        json(r.definition);
        out('# batch script');
        out(r.script);
        return;
      }
      const { id } = await client.createJob(def);
      if (!o.wait) return o.json ? json({ id }) : out(`Job created with id ${id}`);
      // With --wait the outcome is what the user waits for: the final job (JSON) or its status line.
      if (!o.json) out(`Job created with id ${id}`);
      const j = await client.waitJob(id);
      if (o.json) json(j);
      else out(jobStatusLine(j));
      status.exit = exitForStatus(j);
    });
}
