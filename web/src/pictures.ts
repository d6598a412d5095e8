/**
 * The pictures, drawn as SVG by hand: a sweep as a grid of cells coloured by state, the DAG of a
 * workflow, a timeline of its jobs, and queue wait against run time per job. Every label is a
 * text node (dom.ts), every colour a class (app.css).
 */
import { s, tip } from './dom.js';
import type { JobStatus, JobSummaryView, WorkflowJob } from './types.js';

const num = (v: string) => (v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : NaN);
const byValue = (a: string, b: string) => {
  const x = num(a);
  const y = num(b);
  return Number.isNaN(x) || Number.isNaN(y) ? (a < b ? -1 : a > b ? 1 : 0) : x - y;
};
const distinct = (vs: string[]) => [...new Set(vs)].sort(byValue);
const short = (t: string, n = 14) => (t.length > n ? `${t.slice(0, n - 1)}…` : t);

/**
 * A sweep's instances as a grid: columns are the values of the first parameter, rows those of
 * the second (or of the rest, joined); without parameters, one row by index.
 */
export function sweepGrid(instances: WorkflowJob[], onPick: (jobId: number) => void): SVGElement {
  const keys = Object.keys(instances[0]?.parameters ?? {});
  const colOf = (j: WorkflowJob) => (keys[0] ? (j.parameters[keys[0]] ?? '') : String(j.index));
  const rowOf = (j: WorkflowJob) => keys.slice(1).map((k) => `${k}=${j.parameters[k] ?? ''}`).join(' ');
  const cols = distinct(instances.map(colOf));
  const rows = distinct(instances.map(rowOf));
  const cell = Math.max(12, Math.min(34, Math.floor(900 / Math.max(cols.length, 1))));
  const left = rows.length > 1 || keys.length > 1 ? 120 : 40;
  const top = 34;
  const width = left + cols.length * cell + 10;
  const height = top + rows.length * cell + 10;
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'sweep', role: 'img' });
  svg.append(s('text', { x: left, y: 12 }, keys[0] ? `${keys[0]} →` : 'index →'));
  const labelEvery = Math.ceil(cols.length / Math.max(1, Math.floor((cols.length * cell) / 40)));
  cols.forEach((c, i) => {
    if (i % labelEvery === 0) svg.append(s('text', { x: left + i * cell + 2, y: top - 6 }, short(c, 7)));
  });
  rows.forEach((r, i) => svg.append(s('text', { x: 2, y: top + i * cell + cell / 2 + 4 }, short(r || (keys.length ? '' : 'instances'), 18))));
  for (const j of instances) {
    const x = left + cols.indexOf(colOf(j)) * cell;
    const y = top + rows.indexOf(rowOf(j)) * cell;
    const params = Object.entries(j.parameters).map(([k, v]) => `${k}=${v}`).join(' ');
    const rect = s('rect', { x, y, width: cell, height: cell, class: `cell f-${j.status}`, 'data-status': j.status, 'data-job': j.id }, tip(`${j.name}[${j.index}] ${params}: ${j.status}${j.statusReason ? ` (${j.statusReason})` : ''}`));
    rect.addEventListener('click', () => onPick(j.id));
    svg.append(rect);
  }
  return svg;
}

/** The overall state of a group of instances, for one node of the DAG. */
function groupStatus(st: JobStatus[]): JobStatus {
  for (const x of ['failed', 'killed', 'running', 'idle', 'pending', 'deleted'] as const) if (st.includes(x)) return x;
  return 'completed';
}

/** Jobs of a workflow in layers by their longest chain of parents, with the dependency edges. */
export function dag(jobs: WorkflowJob[], deps: Record<string, string[]>): SVGElement {
  const names = distinct(jobs.map((j) => j.name));
  const parents = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const [p, kids] of Object.entries(deps)) for (const k of kids) parents.get(k)?.push(p);
  const depth = new Map<string, number>();
  const depthOf = (n: string, seen = new Set<string>()): number => {
    if (depth.has(n)) return depth.get(n)!;
    if (seen.has(n)) return 0;
    seen.add(n);
    const d = Math.max(-1, ...(parents.get(n) ?? []).map((p) => depthOf(p, seen))) + 1;
    depth.set(n, d);
    return d;
  };
  names.forEach((n) => depthOf(n));
  const layers: string[][] = [];
  for (const n of names) (layers[depth.get(n)!] ??= []).push(n);
  const W = 170;
  const H = 46;
  const gapX = 30;
  const gapY = 40;
  const widest = Math.max(1, ...layers.map((l) => l.length));
  const width = widest * (W + gapX) + gapX;
  const height = layers.length * (H + gapY) + gapY;
  const pos = new Map<string, { x: number; y: number }>();
  layers.forEach((l, d) => l.forEach((n, i) => pos.set(n, { x: gapX + i * (W + gapX) + ((widest - l.length) * (W + gapX)) / 2, y: gapY / 2 + d * (H + gapY) })));
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'dag', role: 'img' });
  for (const [p, kids] of Object.entries(deps)) {
    const a = pos.get(p);
    for (const k of kids) {
      const b = pos.get(k);
      if (a && b) svg.append(s('path', { class: 'edge', d: `M${a.x + W / 2},${a.y + H} C${a.x + W / 2},${a.y + H + gapY / 2} ${b.x + W / 2},${b.y - gapY / 2} ${b.x + W / 2},${b.y}` }));
    }
  }
  for (const n of names) {
    const inst = jobs.filter((j) => j.name === n);
    const done = inst.filter((j) => j.status === 'completed').length;
    const st = groupStatus(inst.map((j) => j.status));
    const { x, y } = pos.get(n)!;
    svg.append(
      s(
        'g',
        { 'data-node': n, 'data-status': st },
        s('rect', { x, y, width: W, height: H, rx: 6, class: 'node' }),
        s('rect', { x, y, width: 8, height: H, rx: 3, class: `f-${st}` }),
        s('text', { x: x + 14, y: y + 18 }, short(n, 22)),
        s('text', { x: x + 14, y: y + 35 }, `${done}/${inst.length} completed · ${st}`),
        tip(`${n}: ${inst.length} instance(s), ${done} completed`),
      ),
    );
  }
  return svg;
}

const t = (iso: string | null) => (iso ? Date.parse(iso) : NaN);

/** One row per job: accepted (created to submitted), queued (to started), running (to ended, or now). */
export function timeline(jobs: JobSummaryView[], now = Date.now()): SVGElement {
  const rows = jobs.slice(0, 300);
  const start = Math.min(...rows.map((j) => t(j.createdAt)));
  const end = Math.max(start + 1000, ...rows.map((j) => t(j.endedAt) || now));
  const left = 150;
  const plot = 760;
  const rowH = 14;
  const width = left + plot + 20;
  const height = 30 + rows.length * rowH + 10;
  const x = (ms: number) => left + ((ms - start) / (end - start)) * plot;
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'timeline', role: 'img' });
  svg.append(s('line', { class: 'axis', x1: left, y1: 24, x2: left + plot, y2: 24 }), s('text', { x: left, y: 14 }, '0 s'), s('text', { x: left + plot - 60, y: 14 }, `${Math.round((end - start) / 1000)} s`));
  rows.forEach((j, i) => {
    const y = 30 + i * rowH;
    svg.append(s('text', { x: 2, y: y + 10 }, short(`${j.id} ${j.name}`, 22)));
    const seg = (a: number, b: number, cls: string, what: string) => {
      if (!Number.isFinite(a) || !Number.isFinite(b) || b < a) return;
      svg.append(s('rect', { x: x(a), y, width: Math.max(1, x(b) - x(a)), height: rowH - 3, class: cls }, tip(`job ${j.id} ${what}: ${((b - a) / 1000).toFixed(1)} s`)));
    };
    const created = t(j.createdAt);
    const submitted = t(j.submittedAt);
    const started = t(j.startedAt);
    const ended = t(j.endedAt);
    const stop = Number.isFinite(ended) ? ended : now;
    seg(created, Number.isFinite(submitted) ? submitted : Number.isFinite(ended) ? ended : now, 'f-accepted', 'accepted');
    if (Number.isFinite(submitted)) seg(submitted, Number.isFinite(started) ? started : stop, 'f-wait', 'queued');
    if (Number.isFinite(started)) seg(started, stop, `f-${j.status === 'running' ? 'run' : j.status}`, 'running');
  });
  return svg;
}

/** Per job, queue wait (submitted to started) and run time (started to ended), in seconds. */
export function waitRunChart(jobs: JobSummaryView[], now = Date.now()): SVGElement {
  const rows = jobs.slice(0, 200).map((j) => {
    const sub = t(j.submittedAt);
    const st = t(j.startedAt);
    const en = t(j.endedAt);
    return { j, wait: Number.isFinite(sub) && Number.isFinite(st) ? (st - sub) / 1000 : 0, run: Number.isFinite(st) ? ((Number.isFinite(en) ? en : now) - st) / 1000 : 0 };
  });
  const max = Math.max(1, ...rows.map((r) => Math.max(r.wait, r.run)));
  const bar = Math.max(3, Math.min(14, Math.floor(800 / Math.max(1, rows.length * 2))));
  const left = 50;
  const plotH = 160;
  const width = left + rows.length * (bar * 2 + 3) + 20;
  const height = plotH + 40;
  const y = (v: number) => 10 + plotH - (v / max) * plotH;
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'waitrun', role: 'img' });
  svg.append(s('line', { class: 'axis', x1: left, y1: 10 + plotH, x2: width - 10, y2: 10 + plotH }), s('line', { class: 'axis', x1: left, y1: 10, x2: left, y2: 10 + plotH }));
  svg.append(s('text', { x: 2, y: 16 }, `${max.toFixed(max < 10 ? 1 : 0)} s`), s('text', { x: 2, y: 10 + plotH }, '0'));
  rows.forEach((r, i) => {
    const x0 = left + 4 + i * (bar * 2 + 3);
    svg.append(
      s('rect', { x: x0, y: y(r.wait), width: bar, height: 10 + plotH - y(r.wait), class: 'f-wait' }, tip(`job ${r.j.id} ${r.j.name}: waited ${r.wait.toFixed(1)} s`)),
      s('rect', { x: x0 + bar, y: y(r.run), width: bar, height: 10 + plotH - y(r.run), class: 'f-run' }, tip(`job ${r.j.id} ${r.j.name}: ran ${r.run.toFixed(1)} s`)),
    );
  });
  svg.append(s('text', { x: left, y: plotH + 32 }, 'jobs in id order: queue wait (yellow) and run time (blue)'));
  return svg;
}
