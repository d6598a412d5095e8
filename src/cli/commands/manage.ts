/**
 * `delete`, `rerun` and `clone`: act on jobs and workflows that exist.
 */
import { Command, CommanderError } from 'commander';
import { Workflow } from '../../client/index.js';
import { EXIT } from '../exitCodes.js';
import { clientFrom, isWorkflowWord, jobId, json, out, workflowId, type CliStatus } from '../common.js';
import { exitForWorkflow, progressText } from '../views.js';

export function registerManage(program: Command, status: CliStatus): void {
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
}
