/**
 * Step: accounting details (elapsed time, max RSS, nodes) of jobs that were decided from their
 * end record before accounting had them. The job's state never waits for this and never
 * changes here; one accounting command per account covers every such job, at most once per
 * FILL_EVERY_MS, and a job whose record has not shown up by its due time is given up on.
 */
import type { FinalInfo } from '../../domain/adapter.js';
import type { JobRecord } from '../../store/store.js';
import { asAccount, byAccount, exec, type StepContext } from '../context.js';

const FILL_EVERY_MS = 15_000;

export class AccountingFill {
  private lastAt = 0;

  async run(ctx: StepContext): Promise<void> {
    const now = ctx.now();
    if (now - this.lastAt < FILL_EVERY_MS) return;
    const due = ctx.store.accountingDue(ctx.rt.name);
    if (due.length === 0) return;
    this.lastAt = now;
    const { adapter } = ctx.rt;
    for (const [account, jobs] of byAccount(ctx, due)) {
      if (!adapter.accountingCommand || !adapter.parseAccounting) {
        for (const j of jobs) ctx.store.fillAccounting(j.id, null);
        continue;
      }
      const as = asAccount(ctx, account);
      const ids = jobs.map((j) => j.nativeId).filter((x): x is string => !!x);
      let found;
      try {
        ctx.counters.accountingCommands++;
        found = adapter.parseAccounting(await exec(as, adapter.accountingCommand(ids, account)));
      } catch (e) {
        ctx.log.debug({ cluster: ctx.rt.name, err: e instanceof Error ? e.message : String(e) }, 'accounting fill-in failed; trying again later');
        continue;
      }
      for (const j of jobs) fillOne(ctx, j, j.nativeId ? found.get(j.nativeId) : undefined, now);
    }
  }
}

function fillOne(ctx: StepContext, job: JobRecord, acct: FinalInfo | undefined, now: number): void {
  if (!acct) {
    if ((job.accountingDue ?? 0) <= now) ctx.store.fillAccounting(job.id, null);
    return;
  }
  ctx.store.fillAccounting(job.id, { elapsedSeconds: acct.elapsedSeconds, maxRssBytes: acct.maxRssBytes, nodeList: acct.nodeList, exitCode: acct.exitCode ?? null, nativeState: acct.nativeState });
}
