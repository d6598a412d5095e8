/**
 * Step: one status command for every job of the cluster. Its answer moves queued and running
 * jobs (observe.ts), sends those that left the queue to finishing, and lets a submission whose
 * outcome was unknown adopt the job the scheduler did accept (adopt.ts). A poll that fails
 * changes no job: the cluster is degraded and the loop backs off.
 */
import type { Observation } from '../../domain/adapter.js';
import type { JobRecord } from '../../store/store.js';
import { exec, move, type StepContext } from '../context.js';
import { jobTag } from '../tag.js';
import { adopt, adoptByTestimony } from './adopt.js';
import { applyObservation } from './observe.js';

/** `answeredAt`: when the poll that answered started (null if it failed); `ok`: the tick may go on. */
export interface PollResult {
  answeredAt: number | null;
  ok: boolean;
}

export async function poll(ctx: StepContext, jobs: readonly JobRecord[]): Promise<PollResult> {
  const status = await readStatus(ctx, ctx.rt.user);
  if (!status) return { answeredAt: null, ok: false };
  return applyStatus(ctx, jobs, status);
}

/** What one status command said, and when it was asked. */
export interface Status {
  observations: Observation[];
  started: number;
}

/**
 * One status command as `ctx`'s identity: for `user`'s jobs, or every user's (null, a monitor
 * identity). Null when it failed: the caller changes no job.
 */
export async function readStatus(ctx: StepContext, user: string | null): Promise<Status | null> {
  const { rt, counters } = ctx;
  const started = ctx.now();
  let observations: Observation[];
  try {
    counters.statusCommands++;
    const r = await exec(ctx, rt.adapter.statusCommand(user));
    observations = rt.adapter.parseStatus(r);
  } catch (e) {
    counters.pollFailures++;
    ctx.health.pollFailed(e);
    return null;
  }
  counters.polls++;
  ctx.health.pollAnswered(ctx.now() - started);
  return { observations, started };
}

/** Move `jobs` (all of one identity, `ctx`'s) by what a status command said. */
export async function applyStatus(ctx: StepContext, jobs: readonly JobRecord[], { observations, started }: Status): Promise<PollResult> {
  const { rt } = ctx;
  const byId = new Map<string, Observation>();
  const byName = new Map<string, Observation>();
  // The id a submit printed may be spelled differently in the status output: compare normalized ids.
  const idKey = (id: string) => rt.adapter.normalizeId?.(id) ?? id;
  for (const o of observations) {
    byId.set(idKey(o.nativeId), o);
    if (o.name) byName.set(o.name, o);
  }

  const unresolved: JobRecord[] = [];
  for (const job of jobs) {
    if (job.state === 'submitting' && job.stepFailures > 0) {
      // A submit whose outcome was unknown (e.g. the submit command timed out after the
      // scheduler accepted the job): if the tag is in the queue, adopt that id instead of
      // submitting again.
      const tag = jobTag(ctx.instance, job.id, job.attempt);
      const o = byName.get(tag);
      // A carrier's elements all carry its tag; the array's own id is what it was given.
      if (o) adopt(ctx, job, job.kind === 'array' ? (o.arrayId ?? o.nativeId) : o.nativeId, `found in the queue by its tag ${tag}`);
      else unresolved.push(job);
      continue;
    }
    if (job.state === 'finishing' && job.absentSince === null && job.nativeId) {
      sawAfterEvent(ctx, job, byId.get(idKey(job.nativeId)), started);
      continue;
    }
    if ((job.state !== 'queued' && job.state !== 'running') || !job.nativeId) continue;
    // The status output lists a carrier's elements, never the carrier: its instances follow them.
    if (job.kind === 'array') continue;
    const o = byId.get(idKey(job.nativeId));
    if (!o) {
      // Gone from the queue. Only jobs submitted before this poll started can be judged:
      // a job submitted during the poll may simply not be in its output.
      if ((job.submittedAt ?? 0) < started) {
        move(ctx, job, [job.state], 'finishing', { absentSince: ctx.now(), nativeState: job.nativeState }, 'left the queue');
      }
      continue;
    }
    applyObservation(ctx, job, o);
  }
  const ok = unresolved.length === 0 || (await adoptByTestimony(ctx, unresolved));
  return { answeredAt: started, ok };
}

/**
 * A job its end record sent to finishing, seen by a status poll: once the scheduler says it
 * left the queue (or how it ended), that is recorded as for any job, so its evidence is read
 * with the scheduler's word and the lost-job grace window starts. Still listed: nothing changes.
 */
function sawAfterEvent(ctx: StepContext, job: JobRecord, o: Observation | undefined, started: number): void {
  if (o && o.state !== 'done') return;
  if (!o && (job.submittedAt ?? 0) >= started) return;
  ctx.store.update(job.id, ['finishing'], { absentSince: ctx.now(), ...(o ? { nativeState: o.nativeState, nativeFinal: o.final ?? null } : {}) });
}
