/**
 * Step: a cancel requested before anything reached the scheduler needs no remote command.
 */
import type { JobRecord } from '../../store/store.js';
import { move, type StepContext } from '../context.js';

export function cancelBeforeSubmit(ctx: StepContext, jobs: readonly JobRecord[]): void {
  for (const job of jobs) {
    if (job.cancelRequestedAt !== null && (job.state === 'accepted' || job.state === 'staging_in')) {
      move(ctx, job, ['accepted', 'staging_in'], 'deleted', { statusReason: 'cancelled by user' }, 'cancelled before submission');
    }
  }
}
