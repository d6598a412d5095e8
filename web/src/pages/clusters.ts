/** Clusters: reachable or degraded (and why), the last good poll, and this user's jobs on each. */
import { get } from '../api.js';
import { badge, h, link, table, when } from '../dom.js';
import type { Page } from '../page.js';
import type { ClusterView, JobSummaryView } from '../types.js';

export async function clustersPage(p: Page): Promise<void> {
  const { clusters } = await get<{ clusters: ClusterView[] }>('/clusters', undefined, p.signal);
  // Active jobs only (the API's default list), per cluster: what is queued and running there now.
  const active = await Promise.all(clusters.map((c) => get<{ jobs: JobSummaryView[] }>('/jobs', { cluster: c.name, limit: 10000 }, p.signal)));
  p.main.replaceChildren(
    h('h1', {}, 'Clusters'),
    table(
      ['Name', 'Scheduler', 'Health', 'Reason', 'Last good poll', 'Your active jobs', 'Pending', 'Queued (idle)', 'Running'],
      clusters.map((c, i) => {
        const jobs = active[i]!.jobs;
        const n = (st: string) => String(jobs.filter((j) => j.status === st).length);
        return [
          c.name,
          c.scheduler,
          c.reachable === null ? badge('pending') : badge(c.state === 'ok' ? 'completed' : 'failed'),
          c.lastError ?? (c.reachable === null ? 'not polled yet' : c.state),
          when(c.lastOkAt),
          link(`#/jobs?status=active&cluster=${encodeURIComponent(c.name)}`, String(jobs.length)),
          n('pending'),
          n('idle'),
          n('running'),
        ];
      }),
      { numeric: [5, 6, 7, 8], classes: [undefined, undefined, undefined, 'reason'] },
    ),
    h('p', { class: 'muted' }, 'Health badge: green reachable, red degraded, grey not polled yet.'),
  );
}
