/**
 * Workflows: the list with progress, and one workflow as pictures (its DAG, each sweep as a
 * grid coloured by state, a timeline of its jobs, queue wait against run time), with rerun
 * of the failed jobs and delete.
 */
import { get, send } from '../api.js';
import { badge, h, link, table, when } from '../dom.js';
import type { Page } from '../page.js';
import { dag, sweepGrid, timeline, waitRunChart } from '../pictures.js';
import type { JobSummaryView, WorkflowInfo } from '../types.js';

function progressBar(p: WorkflowInfo['progress']): HTMLElement {
  const part = (n: number, cls: string) => {
    const el = h('span', { class: cls });
    // A CSSOM property, not a style attribute: allowed under the page's CSP.
    el.style.width = `${p.total ? (100 * n) / p.total : 0}%`;
    return el;
  };
  return h('div', { class: 'progress', attrs: { title: `${p.completed} completed, ${p.failed} failed, ${p.running} running, ${p.waiting} waiting` } }, part(p.completed, 'st-completed'), part(p.failed, 'st-failed'), part(p.running, 'st-running'), part(p.waiting, 'st-pending'), part(p.deleted, 'st-deleted'));
}

const progressText = (p: WorkflowInfo['progress']) => `${p.completed}/${p.total} completed, ${p.failed} failed, ${p.running} running, ${p.waiting} waiting${p.deleted ? `, ${p.deleted} deleted` : ''}`;

export async function workflowsPage(p: Page): Promise<void> {
  const { workflows } = await get<{ workflows: WorkflowInfo[] }>('/workflows', undefined, p.signal);
  p.main.replaceChildren(
    h('h1', {}, 'Your workflows'),
    workflows.length
      ? table(
          ['ID', 'Name', 'Status', 'Progress', '', 'Created'],
          workflows.map((w) => [link(`#/workflow/${w.id}`, w.id), link(`#/workflow/${w.id}`, w.name || `workflow ${w.id}`), badge(w.status), progressBar(w.progress), progressText(w.progress), when(w.createdAt)]),
          { numeric: [0] },
        )
      : h('p', { class: 'muted' }, 'No workflows yet: `hpc-bridge run --file sweep.yaml` creates one.'),
  );
}

const legend = () =>
  h('div', { class: 'legend' }, ...['pending', 'idle', 'running', 'completed', 'failed', 'killed', 'deleted'].map((st) => h('span', {}, h('span', { class: `dot st-${st}` }), st)));

export async function workflowPage(p: Page): Promise<void> {
  const id = Number(p.arg);
  const head = h('div', {});
  const pictures = h('div', {});
  const message = h('p', { class: 'error' });
  const act = (fn: () => Promise<unknown>) => async () => {
    message.textContent = '';
    try {
      await fn();
    } catch (e) {
      message.textContent = e instanceof Error ? e.message : String(e);
    }
  };
  const rerun = h('button', { attrs: { id: 'rerun', type: 'button' }, on: { click: () => void act(() => send('POST', `/workflows/${id}/rerun`))() } }, 'Rerun failed');
  const del = h('button', { class: 'danger', attrs: { id: 'delete', type: 'button' }, on: { click: () => void act(() => send('DELETE', `/workflows/${id}`))() } }, 'Delete');
  p.main.replaceChildren(head, pictures);

  p.every(1000, async () => {
    const [wf, list] = await Promise.all([get<WorkflowInfo>(`/workflows/${id}`, undefined, p.signal), get<{ jobs: JobSummaryView[] }>('/jobs', { workflow: id, all: true, limit: 10000 }, p.signal)]);
    const active = wf.status === 'pending' || wf.status === 'running';
    rerun.disabled = active || wf.status === 'completed';
    del.disabled = !active;
    head.replaceChildren(
      h('h1', {}, `Workflow ${wf.id}: `, wf.name, ' ', badge(wf.status)),
      h('div', { class: 'actions' }, rerun, del, link('#/workflows', 'all workflows')),
      message,
      h('div', { class: 'card', attrs: { id: 'progress' } }, progressBar(wf.progress), h('p', {}, progressText(wf.progress), wf.reruns ? ` · rerun ${wf.reruns}×` : '')),
    );
    const byName = new Map<string, WorkflowInfo['jobs']>();
    for (const j of wf.jobs) byName.set(j.name, [...(byName.get(j.name) ?? []), j]);
    const jobs = [...list.jobs].sort((a, b) => a.id - b.id);
    pictures.replaceChildren(
      h('h2', {}, 'Jobs and dependencies'),
      h('div', { class: 'card scroll', attrs: { id: 'dag' } }, dag(wf.jobs, wf.dependencies ?? {})),
      ...[...byName].filter(([, inst]) => inst.length > 1).flatMap(([name, inst]) => [h('h2', {}, `Sweep: `, name, ` (${inst.length} instances)`), legend(), h('div', { class: 'card scroll sweep-card', attrs: { 'data-sweep': name } }, sweepGrid(inst, (jid) => p.go(`#/job/${jid}`)))]),
      h('h2', {}, 'Timeline'),
      h('div', { class: 'legend' }, h('span', {}, h('span', { class: 'dot st-pending' }), 'accepted'), h('span', {}, h('span', { class: 'dot st-idle' }), 'queued'), h('span', {}, h('span', { class: 'dot st-running' }), 'running')),
      h('div', { class: 'card scroll', attrs: { id: 'wf-timeline' } }, timeline(jobs)),
      h('h2', {}, 'Queue wait and run time per job'),
      h('div', { class: 'card scroll', attrs: { id: 'wait-run' } }, waitRunChart(jobs)),
      h('h2', {}, 'Instances'),
      table(
        ['Job', 'Index', 'ID', 'Parameters', 'Status', 'Native id', 'Reason'],
        wf.jobs.map((j) => [j.name, String(j.index), link(`#/job/${j.id}`, j.id), Object.entries(j.parameters).map(([k, v]) => `${k}=${v}`).join(' '), badge(j.status), j.nativeId ?? '', j.statusReason ?? '']),
        { classes: [undefined, undefined, undefined, undefined, undefined, undefined, 'reason'] },
      ),
    );
    return active;
  });
}
