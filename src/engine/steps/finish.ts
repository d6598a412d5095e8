/**
 * Step: finishing. For jobs that left the queue, read the job's own testimony (the evidence
 * program of src/jobdir) and the scheduler's accounting, decide the outcome (outcome.ts), and
 * either resubmit (policies.maximumRetries) or move on to stage-out.
 */
import type { FinalInfo } from '../../domain/adapter.js';
import { BridgeError } from '../../domain/errors.js';
import { evidenceProgram, parseEvidenceOutput, type Evidence, type EvidenceItem } from '../../jobdir/evidence.js';
import type { JobRecord } from '../../store/store.js';
import { batchOk, exec, jobDir, move, retryBatchLater, type StepContext } from '../context.js';
import { decideOutcome, walltimeFromRunnerClock } from '../outcome.js';
import { WorkflowRows } from '../workflowRows.js';

/** How long finishing waits for an accounting record before deciding without it. */
const ACCOUNTING_WAIT_MS = 10_000;
/** A job decided from its end record gets its accounting details read later, for this long. */
export const ACCOUNTING_FILL_MS = 10 * 60_000;

/**
 * Sent here by its end record, and the scheduler has not yet said it left the queue: its own
 * exit file decides at once (accounting is filled in later), or else it waits for the scheduler.
 */
function endedByEvent(job: JobRecord): boolean {
  return job.absentSince === null && job.eventPhase === 'end';
}
/**
 * Jobs per evidence (and accounting) command: the evidence program costs a few forks per job on
 * the login node (10-25 ms each on a busy one), so hundreds of jobs that end together (a sweep)
 * in one command ran past the command timeout, failed, and were tried again whole on the next
 * tick, forever. Chunks make progress; the first failed chunk stops the round.
 */
const EVIDENCE_BATCH = 50;

export async function finish(ctx: StepContext, jobs: readonly JobRecord[]): Promise<void> {
  for (let i = 0; i < jobs.length; i += EVIDENCE_BATCH) {
    if (!(await finishChunk(ctx, jobs.slice(i, i + EVIDENCE_BATCH)))) return;
  }
}

async function finishChunk(ctx: StepContext, jobs: JobRecord[]): Promise<boolean> {
  if (jobs.length === 0) return true;
  const { rt } = ctx;
  const items: EvidenceItem[] = jobs.map((j) => ({ key: String(j.id), jobDir: jobDir(ctx, j), taskCount: j.spec.tasks.length }));
  let evidence;
  try {
    ctx.counters.evidenceCommands++;
    const r = await exec(ctx, evidenceProgram(items));
    if (r.exitCode !== 0) throw new BridgeError('REMOTE_IO', 'reading exit-code files failed', { transient: true, context: { cluster: rt.name, exitCode: r.exitCode, stderr: r.stderr } });
    evidence = parseEvidenceOutput(r.stdout, items);
  } catch (e) {
    retryBatchLater(ctx, jobs, 'read exit files', e);
    return false;
  }
  batchOk(ctx, 'read exit files');

  let accounting = new Map<string, FinalInfo>();
  const adapter = rt.adapter;
  if (adapter.accountingCommand && adapter.parseAccounting) {
    const ids = jobs.filter((j) => !endedByEvent(j)).map((j) => j.nativeId).filter((x): x is string => !!x);
    if (ids.length > 0) {
      try {
        ctx.counters.accountingCommands++;
        accounting = adapter.parseAccounting(await exec(ctx, adapter.accountingCommand(ids, rt.user)));
      } catch (e) {
        // Accounting is optional evidence; without it the exit files still decide.
        ctx.log.debug({ cluster: rt.name, err: e instanceof Error ? e.message : String(e) }, 'accounting query failed');
      }
    }
  }

  // The chunk's decisions share one commit (each move stays guarded on its own).
  ctx.store.batch(() => decideAll(ctx, jobs, evidence, accounting));
  return true;
}

function decideAll(ctx: StepContext, jobs: JobRecord[], evidence: Map<string, Evidence>, accounting: Map<string, FinalInfo>): void {
  const { rt } = ctx;
  const adapter = rt.adapter;
  const now = ctx.now();
  const wf = new WorkflowRows(ctx.store);
  for (const job of jobs) {
    const ev = evidence.get(String(job.id));
    if (!ev || !ev.complete) continue;
    const acct = job.nativeId ? accounting.get(job.nativeId) : undefined;
    const sinceGone = now - (job.absentSince ?? job.updatedAt);
    const byEvent = endedByEvent(job);
    // Status 129 and up is a signal, often a limit the scheduler enforced (a task OOM-killed):
    // that is the scheduler's to say, so such a job waits for it like any other.
    if (byEvent && (ev.exitCode === null || ev.exitCode > 128)) continue;
    // Accounting lags the queue by a second or so; give it a moment so the job's record
    // carries elapsed time, max RSS and nodes (a job decided by its end record does not wait).
    if (!byEvent && !acct && adapter.accountingCommand && job.nativeId && sinceGone < ACCOUNTING_WAIT_MS) continue;
    const final = walltimeFromRunnerClock(job.spec, ev, mergeFinal(job.nativeFinal, acct));
    // A workflow job that never started while a parent failed was stopped by its dependency
    // (the scheduler may report it as cancelled): say so, whatever else it shows.
    const depFailed = job.workflowId !== null && !ev.started && wf.parentFailed(job);
    const decision = decideOutcome({
      spec: job.spec,
      cancelRequested: job.cancelRequestedAt !== null,
      presetOutcome: depFailed ? { status: 'failed', reason: 'dependency failed' } : job.outcome,
      evidence: ev,
      final,
      sinceGoneMs: sinceGone,
      graceMs: rt.lostGraceMs,
    });
    if (decision.kind === 'wait') continue;
    const { outcome } = decision;
    const acctInfo = acct ? { elapsedSeconds: acct.elapsedSeconds, maxRssBytes: acct.maxRssBytes, nodeList: acct.nodeList, exitCode: acct.exitCode ?? null, nativeState: acct.nativeState } : null;
    if (outcome.retryable && job.attempt < job.spec.policies.maximumRetries && job.cancelRequestedAt === null) {
      move(
        ctx,
        job,
        ['finishing'],
        'staging_in',
        { attempt: job.attempt + 1, arrayJobId: null, afterOk: null, nativeId: null, nativeState: null, nativeFinal: null, outcome: null, absentSince: null, submittedAt: null, startedAt: null, eventPhase: null, eventExit: null, eventAt: null, statusReason: `retrying after: ${outcome.reason}` },
        `resubmitting (attempt ${job.attempt + 2} of ${job.spec.policies.maximumRetries + 1}) after: ${outcome.reason}`,
      );
      continue;
    }
    // A job that started and ended between two polls was never seen running: its own start
    // stamp says when it started, and the final record what the scheduler last called it.
    const unseen = {
      ...(job.startedAt === null && ev.startedEpoch != null ? { startedAt: ev.startedEpoch * 1000 } : {}),
      ...(job.nativeState === null ? nativeStateOf(final?.nativeState ?? adapter.nativeStateFromTestimony?.({ exitCode: ev.exitCode, terminatedBy: ev.terminatedBy })) : {}),
    };
    const fillLater = byEvent && !acct && job.nativeId ? { accountingDue: now + ACCOUNTING_FILL_MS } : {};
    move(ctx, job, ['finishing'], 'staging_out', { ...unseen, ...fillLater, outcome, statusReason: outcome.reason, exitCode: outcome.exitCode ?? null, taskExitCodes: decision.taskExitCodes, accounting: acctInfo, nativeFinal: final }, `outcome: ${outcome.status} (${outcome.reason})`);
  }
}

function nativeStateOf(state: string | undefined): { nativeState?: string } {
  return state ? { nativeState: state } : {};
}

/** Accounting knows more than the status poll (exit code, signal, max RSS); prefer it where it has an answer. */
function mergeFinal(fromPoll: FinalInfo | null, fromAcct: FinalInfo | undefined): FinalInfo | null {
  if (!fromAcct) return fromPoll;
  if (!fromPoll) return fromAcct;
  if (fromAcct.kind === 'unknown') return { ...fromAcct, ...fromPoll };
  return { ...fromPoll, ...fromAcct };
}
