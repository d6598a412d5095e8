/**
 * One job: its facts, the state timeline from its events (with reasons), per-task exit codes,
 * accounting, live stdout/stderr (read from the offset endpoints while it runs), outputs to
 * download, the definition and the batch script it becomes, cancel and clone.
 */
import { get, request, send } from '../api.js';
import { badge, bytes, h, link, seconds, table, when, type Child } from '../dom.js';
import type { Page } from '../page.js';
import { TERMINAL, type JobEventView, type JobView, type OutputsView, type RenderView } from '../types.js';

/** Follow one log from where it was left; appends as text. Stops once the log is complete. */
function logFollower(jobId: number, which: 'stdout' | 'stderr', task: number, pre: HTMLElement) {
  let offset = 0;
  let complete = false;
  const decoder = new TextDecoder();
  return async (): Promise<boolean> => {
    if (complete) return false;
    for (;;) {
      const res = await request('GET', `/jobs/${jobId}/${which}`, { query: { offset, task } });
      const data = new Uint8Array(await res.arrayBuffer());
      offset = Number(res.headers.get('x-next-offset') ?? offset + data.length);
      complete = res.headers.get('x-log-complete') === 'true';
      if (data.length) pre.append(document.createTextNode(decoder.decode(data, { stream: !complete })));
      // A full chunk means more is waiting now; otherwise wait for the next tick.
      if (complete || data.length < 1 << 20) return !complete;
    }
  };
}

async function download(jobId: number, name: string): Promise<void> {
  // Fetched with the token (a plain link would need the token in the URL), then saved from memory.
  const res = await request('GET', `/jobs/${jobId}/outputs/${name.split('/').map(encodeURIComponent).join('/')}`);
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { attrs: { href: url, download: name.split('/').at(-1) ?? name } });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function facts(j: JobView): HTMLElement {
  const rows: [string, Child][] = [
    ['Status', badge(j.status)],
    ['Reason', j.statusReason ?? ''],
    ['Phase', j.phase],
    ['Cluster', j.cluster],
    ['Native id', j.nativeId ? `${j.nativeId}${j.nativeState ? ` (${j.nativeState})` : ''}` : ''],
    ['Attempt', String(j.attempt + 1)],
    ['Exit code', j.exitCode === null ? '' : String(j.exitCode)],
    ['Labels', Object.entries(j.labels).map(([k, v]) => `${k}=${v}`).join(', ')],
    ['Workflow', j.workflowId === null ? '' : link(`#/workflow/${j.workflowId}`, `workflow ${j.workflowId}`)],
    ['Created', when(j.createdAt)],
    ['Submitted', when(j.submittedAt)],
    ['Started', when(j.startedAt)],
    ['Ended', when(j.endedAt)],
  ];
  return h('dl', { class: 'facts', attrs: { id: 'facts' } }, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function accounting(j: JobView): HTMLElement {
  const a = j.accounting;
  const tasks = (j.taskExitCodes ?? []).map((c, i) => [String(i), j.definition.tasks[i]?.cmd ?? '', c === null ? 'not run' : String(c)]);
  return h(
    'div',
    {},
    a
      ? h('dl', { class: 'facts' }, h('dt', {}, 'Elapsed'), h('dd', {}, seconds(a.elapsedSeconds)), h('dt', {}, 'Max RSS'), h('dd', {}, a.maxRssBytes === undefined ? '' : bytes(a.maxRssBytes)), h('dt', {}, 'Nodes'), h('dd', {}, a.nodeList ?? ''), h('dt', {}, 'Scheduler state'), h('dd', {}, a.nativeState ?? ''))
      : h('p', { class: 'muted' }, 'No accounting record (yet).'),
    tasks.length ? table(['Task', 'Command', 'Exit code'], tasks) : h('p', { class: 'muted' }, 'Task exit codes appear once the job has ended.'),
  );
}

function timeline(events: JobEventView[]): HTMLElement {
  return table(
    ['Time', 'From', 'To', 'Status', 'Reason'],
    events.map((e) => [when(e.at), e.from ?? '', e.to, badge(e.status), e.reason ?? '']),
    { classes: [undefined, undefined, undefined, undefined, 'reason'] },
  );
}

export async function jobPage(p: Page): Promise<void> {
  const id = Number(p.arg);
  let job = await get<JobView>(`/jobs/${id}`, undefined, p.signal);
  const head = h('div', {});
  const factsBox = h('div', { class: 'card' });
  const acctBox = h('div', { class: 'card' });
  const eventsBox = h('div', { attrs: { id: 'timeline' } });
  const outputsBox = h('div', { attrs: { id: 'outputs' } });
  const task = Math.max(0, Number(p.params.get('task') ?? 0));
  const stdout = h('pre', { attrs: { id: 'stdout' } });
  const stderr = h('pre', { attrs: { id: 'stderr' } });
  const message = h('p', { class: 'error', attrs: { id: 'action-error' } });

  const cancel = h('button', { class: 'danger', attrs: { id: 'cancel', type: 'button' }, on: { click: () => void act(() => send(`DELETE`, `/jobs/${id}`)) } }, 'Cancel');
  const clone = h(
    'button',
    { attrs: { id: 'clone', type: 'button' }, on: { click: () => void act(async () => p.go(`#/job/${(await send<{ id: number }>('POST', `/jobs/${id}/clone`)).id}`)) } },
    'Clone',
  );
  async function act(fn: () => Promise<unknown>) {
    message.textContent = '';
    try {
      await fn();
    } catch (e) {
      message.textContent = String(e instanceof Error ? e.message : e);
    }
  }

  const drawHead = () => {
    cancel.disabled = TERMINAL.includes(job.status) || job.cancelRequested;
    head.replaceChildren(h('h1', { attrs: { id: 'job-name' } }, `Job ${job.id}: `, job.name, ' ', badge(job.status)), h('div', { class: 'actions' }, cancel, clone, link(`#/jobs`, 'all jobs')), message);
    factsBox.replaceChildren(facts(job));
    acctBox.replaceChildren(h('h2', {}, 'Tasks and accounting'), accounting(job));
  };
  drawHead();

  const tasks = job.definition.tasks.length;
  const taskPicker =
    tasks > 1
      ? h('div', { class: 'actions' }, 'Task: ', ...job.definition.tasks.map((_t, i) => (i === task ? h('b', {}, String(i)) : link(`#/job/${id}?task=${i}`, String(i)))))
      : null;
  const definition = h('pre', { attrs: { id: 'definition' } }, JSON.stringify(job.definition, null, 2));
  const script = h('pre', { attrs: { id: 'script' } }, '');

  p.main.replaceChildren(
    head,
    h('div', { class: 'grid2' }, factsBox, acctBox),
    h('h2', {}, 'Timeline'),
    eventsBox,
    h('h2', {}, 'Output'),
    ...(taskPicker ? [taskPicker] : []),
    h('div', { class: 'grid2' }, h('div', {}, h('h3', {}, 'stdout'), stdout), h('div', {}, h('h3', {}, 'stderr'), stderr)),
    h('h2', {}, 'Output files'),
    outputsBox,
    h('h2', {}, 'Definition'),
    definition,
    h('h2', {}, 'Batch script (as this definition renders on its cluster; the job id reads 0)'),
    script,
  );

  send<RenderView>('POST', '/jobs/render', job.definition)
    .then((r) => (script.textContent = r.script))
    .catch((e: unknown) => (script.textContent = `could not render: ${e instanceof Error ? e.message : String(e)}`));

  const followOut = logFollower(id, 'stdout', task, stdout);
  const followErr = logFollower(id, 'stderr', task, stderr);
  let outputsShown = false;
  p.every(1000, async () => {
    job = await get<JobView>(`/jobs/${id}`, undefined, p.signal);
    drawHead();
    const { events } = await get<{ events: JobEventView[] }>(`/jobs/${id}/events`, undefined, p.signal);
    eventsBox.replaceChildren(timeline(events));
    const [moreOut, moreErr] = await Promise.all([followOut(), followErr()]);
    const ended = TERMINAL.includes(job.status) && job.phase !== 'staging_out';
    if (!outputsShown && (ended || job.status !== 'running')) {
      const o = await get<OutputsView>(`/jobs/${id}/outputs`, undefined, p.signal);
      outputsBox.replaceChildren(
        o.outputs.length
          ? table(
              ['Name', 'Kind', 'Size', 'SHA-256', ''],
              o.outputs.map((x) => [x.name, x.kind, bytes(x.size), h('code', {}, x.sha256.slice(0, 16) + '…'), h('button', { attrs: { type: 'button', 'data-download': x.name }, on: { click: () => void act(() => download(id, x.name)) } }, 'Download')]),
            )
          : h('p', { class: 'muted' }, ended ? 'No output files.' : 'Outputs are collected when the job ends.'),
        ...o.problems.map((x) => h('p', { class: 'error' }, `not collected: ${x.name}: ${x.reason}`)),
      );
      outputsShown = ended;
    }
    return !ended || moreOut || moreErr || !outputsShown;
  });
}
