/**
 * Everything an adapter needs besides the definition to render a job's batch script. The engine
 * and the API's render preview both build it here, so the preview is the script a submission gets.
 */
import type { ScriptContext } from '../domain/adapter.js';
import { kvJobEnv } from '../jobdir/kv.js';
import { eventLogFor, jobDirFor } from '../jobdir/layout.js';
import type { JobRecord, Store } from '../store/store.js';
import type { ClusterRuntime } from './cluster.js';
import { jobTag } from './tag.js';
import { WorkflowRows } from './workflowRows.js';

/** The fields of a job row a script depends on (a preview passes a stand-in with id 0). */
export type ScriptJob = Pick<JobRecord, 'id' | 'attempt' | 'spec'> & Partial<Pick<JobRecord, 'kind' | 'arraySize' | 'arrayParallel' | 'afterOk' | 'workflowId' | 'wfJob'>>;

export function scriptContextFor(rt: ClusterRuntime, instance: string, job: ScriptJob, env?: Record<string, string>): ScriptContext {
  const jobDir = jobDirFor(rt.scratchRoot, instance, job.id);
  // The key-value helper's location and how it reaches the daemon (never the credential itself).
  const all = rt.kvFromJobs && job.kind !== 'array' ? { ...kvJobEnv(jobDir, rt.kvFromJobs), ...(env ?? {}) } : env;
  return {
    ...(all ? { env: all } : {}),
    jobDir,
    tag: jobTag(instance, job.id, job.attempt),
    eventLog: eventLogFor(rt.scratchRoot),
    bridgeJobId: job.id,
    attempt: job.attempt,
    defaults: rt.defaults,
    ...(job.kind === 'array' && job.arraySize ? { array: { size: job.arraySize, ...(job.arrayParallel ? { parallel: job.arrayParallel } : {}) } } : {}),
    ...(job.afterOk && job.afterOk.length > 0 ? { afterOk: job.afterOk } : {}),
    ...(job.spec.resources.walltime !== undefined ? { walltimeSeconds: job.spec.resources.walltime * 60 } : {}),
  };
}

/**
 * How a workflow job reads what its parents produced: for each parent job on this cluster,
 * `HPCB_PARENT_<name>` lists the parent instances' job directories (index order, space
 * separated; non-identifier characters of the name become _). The bridge knows them before
 * anything runs, and a child only starts after its parents completed, so the files are final.
 */
export function parentDirsEnv(rt: ClusterRuntime, store: Store, instance: string, job: JobRecord): Record<string, string> | undefined {
  if (job.workflowId === null || job.wfJob === null) return undefined;
  const parents = new WorkflowRows(store).parentsOf(job).filter((p) => p.cluster === rt.name);
  if (parents.length === 0) return undefined;
  const env: Record<string, string> = {};
  const byName = new Map<string, JobRecord[]>();
  for (const p of parents) byName.set(p.wfJob!, [...(byName.get(p.wfJob!) ?? []), p]);
  for (const [name, rows] of byName) {
    rows.sort((a, b) => (a.wfIndex ?? 0) - (b.wfIndex ?? 0));
    env[`HPCB_PARENT_${name.replace(/[^A-Za-z0-9_]/g, '_')}`] = rows.map((r) => jobDirFor(rt.scratchRoot, instance, r.id)).join(' ');
  }
  return env;
}

/** A job row's script context, its parents' directories included. */
export function jobScriptContext(rt: ClusterRuntime, store: Store, instance: string, job: JobRecord): ScriptContext {
  return scriptContextFor(rt, instance, job, parentDirsEnv(rt, store, instance, job));
}
