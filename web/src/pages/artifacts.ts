/** The user's artifacts by name, a page at a time, with the jobs that staged each. */
import { get } from '../api.js';
import { bytes, h, link, table, when } from '../dom.js';
import { setParams, type Page } from '../page.js';
import type { ArtifactView } from '../types.js';

const PAGE = 100;

export async function artifactsPage(p: Page): Promise<void> {
  const after = p.params.get('after') ?? undefined;
  const { artifacts } = await get<{ artifacts: ArtifactView[] }>('/artifacts', { limit: PAGE, after }, p.signal);
  const last = artifacts.at(-1);
  p.main.replaceChildren(
    h('h1', {}, 'Your artifacts'),
    artifacts.length
      ? table(
          ['Name', 'Size', 'SHA-256', 'Uploaded', 'Used by jobs'],
          artifacts.map((a) => [a.name, bytes(a.size), h('code', {}, a.sha256), when(a.createdAt), h('span', {}, ...(a.usedBy ?? []).flatMap((id, i) => [i ? ', ' : '', link(`#/job/${id}`, id)]))]),
        )
      : h('p', { class: 'muted' }, 'No artifacts: `hpc-bridge upload NAME FILE` adds one.'),
    h('div', { class: 'pager' }, after ? link('#/artifacts', '← first') : null, last && artifacts.length === PAGE ? link(setParams('#/artifacts', { after: last.name }), 'next →') : null),
  );
}
