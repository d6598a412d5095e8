#!/usr/bin/env node
/**
 * hpc-bridge command line.
 *
 * `serve`, `token` and `config check` work on this machine (the daemon itself, its database,
 * its configuration); every other command is a client of a running daemon over HTTP, through
 * the same SDK that scripts use (src/client), with the URL and token from --url/--token or
 * HPC_BRIDGE_URL/HPC_BRIDGE_TOKEN. The daemon-side modules are imported lazily so that client
 * commands never load ssh2 or better-sqlite3.
 */
import { Command, CommanderError, Option } from 'commander';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Client, HpcBridgeError, Workflow, type JobDefinition, type JobSummaryView, type JobView, type Progress, type WorkflowView } from '../client/index.js';
import { EXIT, exitCodeFor, EXIT_CODES_HELP } from './exitCodes.js';
import { formatTable, progressBar } from './output.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function clientFrom(cmd: Command): Client {
  const o = cmd.optsWithGlobals<{ url?: string; token?: string }>();
  return new Client({ ...(o.url ? { url: o.url } : {}), ...(o.token ? { token: o.token } : {}) });
}

function jobId(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `not a job id: ${s}`);
  return n;
}

function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

function json(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

function parseKv(list: string[] | undefined, what: string): Record<string, string> | undefined {
  if (!list?.length) return undefined;
  const r: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `${what} must look like KEY=VALUE: ${kv}`);
    r[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return r;
}

function jobsTable(jobs: JobSummaryView[]): string {
  return formatTable(
    ['ID', 'NAME', 'CLUSTER', 'STATUS', 'CREATED', 'REASON'],
    jobs.map((j) => [String(j.id), j.name, j.cluster, j.status, j.createdAt.replace('T', ' ').slice(0, 19), j.statusReason ?? '']),
  );
}

function workflowId(s: string | undefined): number {
  const n = Number(s);
  if (s === undefined || !Number.isInteger(n) || n < 1) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `not a workflow id: ${s ?? '(missing)'}`);
  return n;
}

/** `describe workflow 3`, `delete workflows 3 4`: the first word names the kind, ids follow. */
const isWorkflowWord = (w: string | undefined) => w === 'workflow' || w === 'workflows' || w === 'wf';

const progressText = (v: WorkflowView) => `${v.progress.completed}/${v.progress.total} completed, ${v.progress.failed} failed, ${v.progress.running} running, ${v.progress.waiting} waiting${v.progress.deleted ? `, ${v.progress.deleted} deleted` : ''}`;

function workflowsTable(list: WorkflowView[]): string {
  return formatTable(
    ['ID', 'NAME', 'STATUS', 'JOBS', 'DONE', 'FAILED', 'RUNNING', 'WAITING', 'CREATED'],
    list.map((w) => [String(w.id), w.name, w.status, String(w.progress.total), String(w.progress.completed), String(w.progress.failed), String(w.progress.running), String(w.progress.waiting), new Date(w.createdAt).toISOString().replace('T', ' ').slice(0, 19)]),
  );
}

/** A workflow in full: its status line, then one row per instance with its state and why. */
function workflowText(v: WorkflowView): string {
  const head = `workflow ${v.id}${v.name ? ` "${v.name}"` : ''}: ${v.status} (${progressText(v)})${v.reruns ? `, rerun ${v.reruns}x` : ''}`;
  const params = (p: Record<string, string>) => Object.entries(p).map(([k, x]) => `${k}=${x}`).join(' ');
  const rows = v.jobs.map((j) => [j.name, String(j.index), String(j.id), params(j.parameters), j.cluster, j.status, j.nativeId ?? '', j.statusReason ?? '']);
  return `${head}\n${formatTable(['JOB', 'INDEX', 'ID', 'PARAMETERS', 'CLUSTER', 'STATUS', 'NATIVE ID', 'REASON'], rows)}`;
}

const exitForWorkflow = (v: WorkflowView): number => (v.status === 'completed' ? EXIT.OK : v.status === 'failed' || v.status === 'deleted' ? EXIT.JOB_NOT_COMPLETED : EXIT.TIMEOUT);

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

const num = (v: string | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `--${what} must be a number: ${v}`);
  return n;
};

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

async function uploadWithProgress(client: Client, name: string, path: string) {
  const bar = progressBar(`upload ${name}`);
  try {
    return await client.uploadArtifact(name, path, bar ? { onProgress: bar.update } : {});
  } finally {
    bar?.stop();
  }
}

async function downloadWithProgress(client: Client, id: number, name: string, path: string): Promise<void> {
  const bar = progressBar(name);
  try {
    await client.downloadOutputTo(id, name, path, bar ? { onProgress: bar.update as Progress } : {});
  } finally {
    bar?.stop();
  }
}

async function follow(client: Client, id: number, which: 'stdout' | 'stderr', o: { task?: string; offset?: string; follow?: boolean }): Promise<void> {
  let offset = Number(o.offset ?? 0);
  const task = o.task === undefined ? undefined : Number(o.task);
  for (;;) {
    const chunk = await client.readLog(id, which, { offset, ...(task !== undefined ? { task } : {}) });
    process.stdout.write(chunk.data);
    offset = chunk.nextOffset;
    if (!o.follow || chunk.complete) return;
    if (chunk.data.length === 0) {
      // Nothing new: a one-second long-poll on the job, which also returns at once when it ends.
      const j = await client.waitJob(id, 1);
      if (['completed', 'failed', 'killed', 'deleted'].includes(j.status)) {
        const last = await client.readLog(id, which, { offset, ...(task !== undefined ? { task } : {}) });
        process.stdout.write(last.data);
        if (last.complete || last.data.length === 0) return;
        offset = last.nextOffset;
      }
    }
  }
}

async function openDaemonSettings(config: string | undefined) {
  const { loadSettings } = await import('../settings/load.js');
  const { embeddedDefaultSettings } = await import('../settings/defaults.js');
  const file = config ?? process.env.HPCB_CONFIG;
  return file ? loadSettings(file) : embeddedDefaultSettings();
}

async function tokenStore(config: string | undefined) {
  const settings = await openDaemonSettings(config);
  const { Store } = await import('../store/store.js');
  const { TokenStore } = await import('../auth/tokens.js');
  // The daemon may be running: SQLite in WAL mode lets this admin command write beside it.
  const store = Store.open(join(settings.daemon.dataDir, 'hpc-bridge.db'));
  return { tokens: new TokenStore(store.db), close: () => store.close() };
}

async function serve(config: string | undefined): Promise<void> {
  const settings = await openDaemonSettings(config);
  const { Bridge } = await import('../bridge.js');
  const { buildApp } = await import('../api/app.js');
  const { listen } = await import('../api/listen.js');
  const { Metrics } = await import('../ops/metrics.js');
  const { Maintenance } = await import('../ops/maintenance.js');
  const bridge = Bridge.open(settings);
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
    const l = settings.daemon.listen;
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new CommanderError(EXIT.ERROR, 'hpcb.error', `a daemon is already listening on ${l.socket ?? `${l.host}:${l.port}`} (or another program is): stop it, or choose another listen address in the configuration`);
    }
    throw e;
  }
  const dashboard = await startDashboard(app, settings.daemon.dashboard, bridge.log);
  maintenance.start();
  bridge.log.info(
    { clusters: settings.clusters.map((c) => `${c.name} (${c.scheduler})`), dataDir: settings.daemon.dataDir, config: settings.sources.daemon, url: server.url, dashboard: dashboard?.url ?? null },
    'hpc-bridge started',
  );
  const stop = (sig: string) => {
    bridge.log.info({ signal: sig }, 'stopping: jobs on the clusters keep running and resume at the next start');
    // Stop accepting requests first, answer pending long-polls, then close SSH and the database.
    // A maintenance task in progress (a backup, a scratch clean-up) finishes before the database closes.
    void Promise.all([server.close(), dashboard?.close()])
      .then(() => maintenance.stop())
      .then(() => bridge.close())
      .then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** The dashboard beside the API; a port it cannot have is logged, and the daemon runs without it. */
async function startDashboard(app: import('../api/app.js').App, cfg: { enabled: boolean; host: string; port: number }, log: { warn(o: object, m: string): void }) {
  if (!cfg.enabled) return undefined;
  const { listenDashboard } = await import('../api/dashboard.js');
  try {
    return await listenDashboard(app, cfg);
  } catch (e) {
    log.warn({ host: cfg.host, port: cfg.port, err: (e as Error).message }, 'dashboard not started');
    return undefined;
  }
}

/** `status.exit` carries an action's exit code (wait, run --wait) back to `main`. */
export function buildProgram(status: { exit: number } = { exit: 0 }): Command {
  const program = new Command('hpc-bridge')
    .description('Run job definitions on Slurm, PBS and direct clusters through the hpc-bridge daemon')
    .addOption(new Option('--url <url>', 'daemon URL').env('HPC_BRIDGE_URL'))
    .addOption(new Option('--token <token>', 'API token').env('HPC_BRIDGE_TOKEN'))
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve')
    .description('run the daemon (HTTP API + engine); without --config, the embedded default runs jobs on this machine')
    .option('--config <file>', 'daemon configuration (default $HPCB_CONFIG)')
    .action(async (o: { config?: string }) => serve(o.config));

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

  program
    .command('list')
    .description('list your jobs (active ones unless --completed or --all), or your workflows: list workflows')
    .argument('[kind]', '"jobs" (default) or "workflows"')
    .option('--workflows', 'list workflows (same as: list workflows)')
    .option('--completed', 'ended jobs only')
    .option('-a, --all', 'active and ended jobs')
    .option('--status <status>')
    .option('--name <name>')
    .option('--label <k=v>', 'repeatable; all must match', collect)
    .option('-n, --limit <n>')
    .option('--json', 'JSON output')
    .action(async (kind: string | undefined, o: { workflows?: boolean; completed?: boolean; all?: boolean; status?: string; name?: string; label?: string[]; limit?: string; json?: boolean }, cmd: Command) => {
      if (kind !== undefined && kind !== 'jobs' && !isWorkflowWord(kind)) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `list what? "jobs" or "workflows", not "${kind}"`);
      if (o.workflows || isWorkflowWord(kind)) {
        let list = await Workflow.list(clientFrom(cmd));
        // Filters the daemon applies to jobs, applied here to the (short) list of workflows.
        if (o.status) list = list.filter((w) => w.status === o.status);
        if (o.name) list = list.filter((w) => w.name === o.name);
        const labels = parseKv(o.label, '--label');
        if (labels) list = list.filter((w) => Object.entries(labels).every(([k, x]) => w.labels[k] === x));
        if (o.limit) list = list.slice(0, Number(o.limit));
        return o.json ? json(list) : out(workflowsTable(list));
      }
      const labels = parseKv(o.label, '--label');
      const jobs = await clientFrom(cmd).listJobs({
        ...(o.completed ? { completed: true } : {}),
        ...(o.all ? { all: true } : {}),
        ...(o.status ? { status: o.status as JobView['status'] } : {}),
        ...(o.name ? { name: o.name } : {}),
        ...(labels ? { labels } : {}),
        ...(o.limit ? { limit: Number(o.limit) } : {}),
      });
      if (o.json) return json(jobs);
      out(jobsTable(jobs));
      // An empty default list hides every ended job; say how to see them (on stderr: the table stays parseable).
      if (jobs.length === 0 && !o.all && !o.completed && !o.status) process.stderr.write('no active jobs; `hpc-bridge list --all` shows ended jobs too\n');
    });

  program
    .command('describe')
    .description('a job in full, as JSON; or a workflow: describe workflow <id> (every instance, its state and why)')
    .argument('<id>', 'job id, or the word "workflow" and a workflow id')
    .argument('[workflow-id]')
    .option('-i, --input', 'only the definition (to edit and resubmit)')
    .option('--json', 'a workflow as JSON (a job is always JSON)')
    .action(async (id: string, wfId: string | undefined, o: { input?: boolean; json?: boolean }, cmd: Command) => {
      if (isWorkflowWord(id)) {
        const wf = await Workflow.get(workflowId(wfId), clientFrom(cmd));
        return o.json ? json(wf.info) : out(workflowText(wf.info!));
      }
      if (wfId !== undefined) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `describe takes one job id (or: describe workflow <id>), got "${id} ${wfId}"`);
      const j = await clientFrom(cmd).getJob(jobId(id));
      json(o.input ? j.definition : j);
    });

  program
    .command('status')
    .description("a job's status line (status, reason, native id and state); --json for the whole job")
    .argument('<id>')
    .option('--json', 'the job as JSON (same as describe)')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const j = await clientFrom(cmd).getJob(jobId(id));
      if (o.json) return json(j);
      out(`${jobStatusLine(j)}${j.nativeId ? `  native ${j.nativeId}${j.nativeState ? ` ${j.nativeState}` : ''}` : ''}`);
    });

  program
    .command('wait')
    .description('wait until a job (or: wait workflow <id>, every job of a workflow) ends; exit 0 only if it completed')
    .argument('<id>', 'job id, or the word "workflow" and a workflow id')
    .argument('[workflow-id]')
    .option('--timeout <seconds>', 'give up after this long (exit 4)')
    .option('--json', 'print the job as JSON')
    .action(async (id: string, wfId: string | undefined, o: { timeout?: string; json?: boolean }, cmd: Command) => {
      if (isWorkflowWord(id)) {
        const wf = await Workflow.get(workflowId(wfId), clientFrom(cmd));
        const v = await wf.wait(o.timeout === undefined ? {} : { timeout: Number(o.timeout) });
        if (o.json) json(v);
        else out(`workflow ${v.id}: ${v.status} (${progressText(v)})`);
        status.exit = exitForWorkflow(v);
        return;
      }
      if (wfId !== undefined) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `wait takes one job id (or: wait workflow <id>)`);
      const j = await clientFrom(cmd).waitJob(jobId(id), o.timeout === undefined ? undefined : Number(o.timeout));
      if (o.json) json(j);
      else out(jobStatusLine(j));
      status.exit = exitForStatus(j);
    });

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

  program
    .command('delete')
    .description('cancel jobs, or every job of workflows: delete workflow <ids...> (idempotent)')
    .argument('<ids...>', 'job ids, or the word "workflow" and workflow ids')
    .action(async (ids: string[], _o: unknown, cmd: Command) => {
      const client = clientFrom(cmd);
      if (isWorkflowWord(ids[0])) {
        if (ids.length < 2) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', 'usage: delete workflow <ids...>');
        for (const id of ids.slice(1)) {
          const wf = await Workflow.get(workflowId(id), client);
          const before = wf.info!.status;
          const v = await wf.delete();
          out(`workflow ${v.id}: ${before === 'completed' || before === 'failed' || before === 'deleted' ? `already ${before}` : 'cancel requested'}`);
        }
        return;
      }
      for (const id of ids) {
        const j = await client.deleteJob(jobId(id));
        out(`job ${j.id}: ${j.status === 'deleted' || !['completed', 'failed', 'killed'].includes(j.status) ? 'cancel requested' : `already ${j.status}`}`);
      }
    });

  program
    .command('rerun')
    .description('run again the jobs of a workflow that did not complete, and everything downstream of them')
    .argument('<id>', 'workflow id (or: rerun workflow <id>)')
    .argument('[workflow-id]')
    .option('--wait', 'wait for the workflow and exit like `wait workflow`')
    .option('--json', 'print the workflow as JSON')
    .action(async (id: string, wfId: string | undefined, o: { wait?: boolean; json?: boolean }, cmd: Command) => {
      const wf = await Workflow.get(workflowId(isWorkflowWord(id) ? wfId : id), clientFrom(cmd));
      const before = new Set(wf.info!.jobs.map((j) => j.id));
      let v = await wf.rerun();
      const again = v.jobs.filter((j) => !before.has(j.id)).length;
      if (!o.json) out(again ? `workflow ${v.id}: rerunning ${again} job${again === 1 ? '' : 's'}` : `workflow ${v.id}: nothing to rerun (${v.status})`);
      if (o.wait) {
        v = await wf.wait();
        if (!o.json) out(`workflow ${v.id}: ${v.status} (${progressText(v)})`);
        status.exit = exitForWorkflow(v);
      }
      if (o.json) json(v);
    });

  program
    .command('clone')
    .description('submit a new job with the definition of an existing one')
    .argument('<id>')
    .option('--json', 'print {id} as JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const r = await clientFrom(cmd).cloneJob(jobId(id));
      if (o.json) json(r);
      else out(`Job created with id ${r.id}`);
    });

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

  const token = program.command('token').description("manage API tokens (admin: works on the daemon's database directly)");
  token
    .command('create')
    .description('create a token for a user; it is printed once and only its hash is kept')
    .requiredOption('--user <name>')
    .option('--label <text>', 'what the token is for')
    .option('--config <file>', 'daemon configuration (for its data directory)')
    .action(async (o: { user: string; label?: string; config?: string }) => {
      // An unset shell variable ($USER) arrives as "": refuse it here, before any database work,
      // so `X=$(hpc-bridge token create ...)` under set -e stops instead of exporting nothing.
      if (o.user.trim() === '') throw new CommanderError(EXIT.USAGE, 'hpcb.usage', '--user: must name a user (it was empty; is $USER unset?)');
      const t = await tokenStore(o.config);
      try {
        const { token: secret, info } = t.tokens.create(o.user, o.label);
        process.stderr.write(`token ${info.id} for ${info.user} (shown once; store it now):\n`);
        out(secret);
      } finally {
        t.close();
      }
    });
  token
    .command('list')
    .option('--user <name>')
    .option('--config <file>')
    .option('--json', 'JSON output')
    .action(async (o: { user?: string; config?: string; json?: boolean }) => {
      const t = await tokenStore(o.config);
      try {
        const list = t.tokens.list(o.user);
        if (o.json) return json(list);
        const d = (n: number | null) => (n === null ? '' : new Date(n).toISOString().slice(0, 19).replace('T', ' '));
        out(formatTable(['ID', 'USER', 'LABEL', 'CREATED', 'LAST USED', 'REVOKED'], list.map((x) => [x.id, x.user, x.label ?? '', d(x.createdAt), d(x.lastUsedAt), d(x.revokedAt)])));
      } finally {
        t.close();
      }
    });
  token
    .command('revoke')
    .argument('<id>', 'token id (from token list) or the token itself')
    .option('--config <file>')
    .action(async (id: string, o: { config?: string }) => {
      const t = await tokenStore(o.config);
      try {
        if (!t.tokens.revoke(id)) throw new HpcBridgeError('NOT_FOUND', `no live token with id ${id}`, 404);
        out(`revoked ${id}`);
      } finally {
        t.close();
      }
    });

  program
    .command('config')
    .description('configuration')
    .command('check')
    .description('validate a configuration file and its clusters.d (every problem at once), then try each cluster: login and host key, scheduler commands, scratch writable')
    .option('--config <file>', 'default $HPCB_CONFIG')
    .option('--no-connect', 'only validate the files; do not contact the clusters')
    .option('--json', 'JSON output')
    .action(async (o: { config?: string; connect: boolean; json?: boolean }) => {
      const file = o.config ?? process.env.HPCB_CONFIG;
      if (!file) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', 'give --config FILE (or set HPCB_CONFIG)');
      const s = await openDaemonSettings(file);
      const summary = `ok: ${file}: ${s.clusters.length} cluster(s): ${s.clusters.map((c) => `${c.name} (${c.scheduler})`).join(', ')}`;
      if (!o.connect) return o.json ? json({ valid: true, clusters: [] }) : out(summary);
      const { checkCluster, formatSteps } = await import('../ops/check.js');
      // Clusters are independent: check them side by side, report in config order.
      const steps = (await Promise.all(s.clusters.map((c) => checkCluster(c)))).flat();
      if (o.json) json({ valid: true, clusters: steps });
      else out(`${summary}\n${formatSteps(steps)}`);
      if (steps.some((x) => !x.ok)) status.exit = EXIT.ERROR;
    });

  return program;
}

function jobStatusLine(j: JobView): string {
  return `job ${j.id}: ${j.status}${j.statusReason ? ` (${j.statusReason})` : ''}`;
}

function exitForStatus(j: JobView): number {
  if (j.status === 'completed') return EXIT.OK;
  if (['failed', 'killed', 'deleted'].includes(j.status)) return EXIT.JOB_NOT_COMPLETED;
  return EXIT.TIMEOUT;
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
