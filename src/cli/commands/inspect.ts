/**
 * `list`, `describe`, `wait` and `notifications`: jobs and workflows as they are now, or once they end.
 */
import { Command, CommanderError } from 'commander';
import { Job, Workflow, type JobView } from '../../client/index.js';
import { EXIT } from '../exitCodes.js';
import { clientFrom, collect, isWorkflowWord, jobId, json, out, parseKv, workflowId, type CliStatus } from '../common.js';
import { deliveriesTable, exitForStatus, exitForWorkflow, jobStatusLine, jobsTable, progressText, workflowsTable, workflowText } from '../views.js';

export function registerInspect(program: Command, status: CliStatus): void {
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
    .command('notifications')
    .description("the deliveries of a job's notifications (or: notifications workflow <id>): status, attempts, last error")
    .argument('<id>', 'job id, or the word "workflow" and a workflow id')
    .argument('[workflow-id]')
    .option('--json', 'as JSON')
    .action(async (id: string, wfId: string | undefined, o: { json?: boolean }, cmd: Command) => {
      let list;
      if (isWorkflowWord(id)) list = await (await Workflow.get(workflowId(wfId), clientFrom(cmd))).deliveries();
      else if (wfId !== undefined) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', `notifications takes one job id (or: notifications workflow <id>)`);
      else list = await (await Job.get(jobId(id), clientFrom(cmd))).deliveries();
      if (o.json) json(list);
      else out(deliveriesTable(list));
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
}
