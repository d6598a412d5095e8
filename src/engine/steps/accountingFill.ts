/**
 * Step: accounting details (elapsed time, max RSS, nodes) of jobs that were decided from their
 * end record before accounting had them. The job's state never waits for this and never
 * changes here; one accounting command per account covers every such job ended since the last
 * one, at most once per FILL_EVERY_MS, and a job whose record has not shown up by its due time
 * is given up on. An adapter without accounting gets the same from its status command, which
 * lists a finished job for a while (its final state and nodes).
 */
import type { FinalInfo } from '../../domain/adapter.js';
import type { JobRecord } from '../../store/store.js';
import { asAccount, byAccount, exec, type StepContext } from '../context.js';
import { ACCOUNTING_FILL_MS } from './finish.js';

/**
 * As often as the default safety-net poll: with events followed, the fill and that poll are the
 * only scheduler commands of a cluster whose jobs just run and end, so their sum is what a
 * site's controller sees. Details come within a minute or two; nothing waits for them.
 */
const FILL_EVERY_MS = 60_000;
/** Accounting lags the job's end by a few seconds on a loaded controller: a job is first asked about this long after (an early miss costs a minute). */
const FIRST_ASK_MS = 5000;

export class AccountingFill {
  private lastAt = 0;
  private inFlight: Promise<void> | undefined;

  /**
   * Starts a fill when one is due and returns at once: the tick that starts it goes on to jobs
   * whose state is waiting (a loop's next round), not after an accounting command nobody waits for.
   */
  run(ctx: StepContext): void {
    const now = ctx.now();
    if (this.inFlight || now - this.lastAt < FILL_EVERY_MS) return;
    const due = ctx.store.accountingDue(ctx.rt.name).filter((j) => now - (j.accountingDue! - ACCOUNTING_FILL_MS) >= FIRST_ASK_MS);
    if (due.length === 0) return;
    this.lastAt = now;
    this.inFlight = this.fill(ctx, due, now)
      .catch((e: unknown) => ctx.log.error({ err: e, cluster: ctx.rt.name }, 'accounting fill-in crashed'))
      .finally(() => (this.inFlight = undefined));
  }

  /** The fill in flight, if any, has ended (the reconciler's stop waits for it). */
  async idle(): Promise<void> {
    await this.inFlight;
  }

  private async fill(ctx: StepContext, due: readonly JobRecord[], now: number): Promise<void> {
    for (const [account, jobs] of byAccount(ctx, due)) {
      let found;
      try {
        found = await finals(asAccount(ctx, account), jobs, account);
      } catch (e) {
        ctx.log.debug({ cluster: ctx.rt.name, err: e instanceof Error ? e.message : String(e) }, 'accounting fill-in failed; trying again later');
        continue;
      }
      if (ctx.stopped()) return; // the database may be closing
      for (const j of jobs) fillOne(ctx, j, j.nativeId ? found.get(j.nativeId) : undefined, now);
    }
  }
}

/** What the scheduler still says about `jobs`' ends, by native id: accounting, or else the status command. */
async function finals(ctx: StepContext, jobs: readonly JobRecord[], account: string): Promise<Map<string, FinalInfo>> {
  const { adapter } = ctx.rt;
  if (adapter.accountingCommand && adapter.parseAccounting) {
    const ids = jobs.map((j) => j.nativeId).filter((x): x is string => !!x);
    ctx.counters.accountingCommands++;
    return adapter.parseAccounting(await exec(ctx, adapter.accountingCommand(ids, account)));
  }
  ctx.counters.statusCommands++;
  const seen = adapter.parseStatus(await exec(ctx, adapter.statusCommand(account)));
  const key = (id: string) => adapter.normalizeId?.(id) ?? id;
  const byId = new Map(seen.filter((o) => o.final).map((o) => [key(o.nativeId), o.final!]));
  return new Map(jobs.filter((j) => j.nativeId && byId.has(key(j.nativeId))).map((j) => [j.nativeId!, byId.get(key(j.nativeId!))!]));
}

function fillOne(ctx: StepContext, job: JobRecord, final: FinalInfo | undefined, now: number): void {
  if (!final) {
    if ((job.accountingDue ?? 0) <= now) ctx.store.fillAccounting(job.id, null, null);
    return;
  }
  // Accounting's record goes where finishing would have put it; a status line is the job's final view.
  const accounting = ctx.rt.adapter.accountingCommand ? { elapsedSeconds: final.elapsedSeconds, maxRssBytes: final.maxRssBytes, nodeList: final.nodeList, exitCode: final.exitCode ?? null, nativeState: final.nativeState } : null;
  ctx.store.fillAccounting(job.id, accounting, final);
}
