/**
 * The jobs page: counts per status, filters, and one page of the newest jobs from the server
 * (limit + before=<last id>), so a user with 100,000 jobs loads 50 rows, not 100,000.
 */
import { get } from '../api.js';
import { badge, h, link, when, type Child } from '../dom.js';
import { setParams, type Page } from '../page.js';
import { STATUSES, type ClusterView, type JobCountsView, type JobSummaryView } from '../types.js';

export const PAGE_SIZE = 50;

type SortKey = 'id' | 'name' | 'status' | 'cluster';

export async function jobsPage(p: Page): Promise<void> {
  const f = {
    status: p.params.get('status') ?? '',
    name: p.params.get('name') ?? '',
    label: p.params.get('label') ?? '',
    cluster: p.params.get('cluster') ?? '',
    before: p.params.get('before') ?? '',
    newer: p.params.get('newer') ?? '',
  };
  const [counts, clusters] = await Promise.all([get<JobCountsView>('/jobs/counts', undefined, p.signal), get<{ clusters: ClusterView[] }>('/clusters', undefined, p.signal)]);

  // "active" is the API's default list; any other status, or all, is asked for by name.
  const query = {
    ...(f.status === 'active' ? {} : f.status ? { status: f.status } : { all: true }),
    name: f.name,
    label: f.label ? [f.label] : undefined,
    cluster: f.cluster,
    before: f.before,
    limit: PAGE_SIZE,
  };
  const { jobs } = await get<{ jobs: JobSummaryView[] }>('/jobs', query, p.signal);

  const hashWith = (over: Partial<typeof f>) => setParams('#/jobs', { ...f, before: undefined, newer: undefined, ...over });
  const countChips = h(
    'div',
    { class: 'counts', attrs: { id: 'counts' } },
    h('a', { class: 'count', attrs: { href: hashWith({ status: '' }), 'data-status': 'all' } }, 'all ', h('b', {}, counts.total)),
    ...STATUSES.filter((st) => counts.counts[st]).map((st) => h('a', { class: 'count', attrs: { href: hashWith({ status: st }), 'data-status': st } }, h('span', { class: `dot st-${st}` }), `${st} `, h('b', {}, counts.counts[st] ?? 0))),
  );

  const statusSel = h('select', { attrs: { name: 'status' } }, ...['', 'active', ...STATUSES].map((x) => h('option', { attrs: { value: x, selected: x === f.status } }, x || 'any')));
  const clusterSel = h('select', { attrs: { name: 'cluster' } }, h('option', { attrs: { value: '' } }, 'any'), ...clusters.clusters.map((c) => h('option', { attrs: { value: c.name, selected: c.name === f.cluster } }, c.name)));
  const nameIn = h('input', { attrs: { name: 'name', value: f.name, placeholder: 'exact name' } });
  const labelIn = h('input', { attrs: { name: 'label', value: f.label, placeholder: 'key=value' } });
  const filters = h(
    'form',
    {
      class: 'filters',
      attrs: { id: 'filters' },
      on: {
        submit: (e) => {
          e.preventDefault();
          p.go(hashWith({ status: statusSel.value, cluster: clusterSel.value, name: nameIn.value.trim(), label: labelIn.value.trim() }));
        },
      },
    },
    h('label', {}, 'Status', statusSel),
    h('label', {}, 'Name', nameIn),
    h('label', {}, 'Label', labelIn),
    h('label', {}, 'Cluster', clusterSel),
    h('button', { class: 'primary', attrs: { type: 'submit' } }, 'Filter'),
    h('a', { attrs: { href: '#/jobs' } }, 'clear'),
  );

  // Sorting re-orders the page shown; the server's order (newest first) decides what a page holds.
  let sort: { key: SortKey; dir: 1 | -1 } = { key: 'id', dir: -1 };
  const body = h('div', { attrs: { id: 'jobs-table' } });
  const draw = () => {
    const rows = [...jobs].sort((a, b) => {
      const x = a[sort.key];
      const y = b[sort.key];
      return (x < y ? -1 : x > y ? 1 : 0) * sort.dir;
    });
    const th = (label: string, key?: SortKey) =>
      key
        ? h('th', { class: 'sortable', attrs: { 'data-sort': key }, on: { click: () => ((sort = { key, dir: sort.key === key ? (-sort.dir as 1 | -1) : 1 }), draw()) } }, label, sort.key === key ? (sort.dir === 1 ? ' ▲' : ' ▼') : '')
        : h('th', {}, label);
    const t = h(
      'table',
      {},
      h('thead', {}, h('tr', {}, th('ID', 'id'), th('Name', 'name'), th('Status', 'status'), th('Cluster', 'cluster'), th('Created'), th('Started'), th('Ended'), th('Reason'))),
      h(
        'tbody',
        {},
        ...rows.map((j) =>
          h(
            'tr',
            { attrs: { 'data-job': j.id } },
            h('td', { class: 'num' }, link(`#/job/${j.id}`, j.id)),
            h('td', { class: 'name' }, link(`#/job/${j.id}`, j.name)),
            h('td', {}, badge(j.status)),
            h('td', {}, j.cluster),
            h('td', {}, when(j.createdAt)),
            h('td', {}, when(j.startedAt)),
            h('td', {}, when(j.endedAt)),
            h('td', { class: 'reason' }, j.statusReason ?? ''),
          ),
        ),
      ),
    );
    body.replaceChildren(jobs.length ? t : h('p', { class: 'muted' }, f.status === 'active' ? 'No active jobs. Choose status "any" to see ended ones.' : 'No jobs match.'));
  };
  draw();

  const last = jobs.at(-1);
  const pager: Child[] = [];
  if (f.before) pager.push(h('a', { attrs: { href: f.newer ? setParams('#/jobs', { ...f, before: f.newer.split(',').at(-1), newer: f.newer.split(',').slice(0, -1).join(',') }) : hashWith({}) } }, '← newer'));
  if (last && jobs.length === PAGE_SIZE) pager.push(h('a', { attrs: { href: setParams('#/jobs', { ...f, before: last.id, newer: [f.newer, f.before].filter(Boolean).join(',') }), id: 'older' } }, 'older →'));
  pager.push(h('span', { class: 'muted' }, jobs.length ? `${jobs.length} shown, ids ${jobs.at(-1)!.id}–${jobs[0]!.id}` : ''));

  p.main.replaceChildren(h('h1', {}, 'Your jobs'), countChips, filters, body, h('div', { class: 'pager' }, ...pager));
}
