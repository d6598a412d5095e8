/**
 * The only way the dashboard builds its page: elements made with createElement and text set
 * with textContent. No HTML string is ever parsed, so a job named `<script>` stays text.
 */
export type Child = Node | string | number | null | undefined | false;

interface Props {
  class?: string;
  /** Plain attributes; event handler and style attributes are refused (see set()). */
  attrs?: Record<string, string | number | boolean | undefined>;
  on?: Partial<Record<keyof HTMLElementEventMap, (e: Event) => void>>;
}

function set(el: Element, name: string, value: string | number | boolean | undefined): void {
  if (value === undefined || value === false) return;
  // Inline handlers and styles would be refused by the CSP anyway; refusing here finds the bug sooner.
  if (/^on/i.test(name) || name === 'style') throw new Error(`attribute ${name} is not allowed`);
  if ((name === 'href' || name === 'src') && !/^(#|\/|blob:)/.test(String(value))) throw new Error(`only local links: ${String(value)}`);
  el.setAttribute(name, value === true ? '' : String(value));
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  for (const [k, v] of Object.entries(props.attrs ?? {})) set(el, k, v);
  for (const [k, f] of Object.entries(props.on ?? {})) if (f) el.addEventListener(k, f);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s(tag: string, attrs: Record<string, string | number | undefined> = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) set(el, k, v);
  append(el, children);
  return el;
}

/** A tooltip for an SVG shape (its <title>), as text. */
export const tip = (text: string) => s('title', {}, text);

export const link = (href: string, ...children: Child[]) => h('a', { attrs: { href } }, ...children);

export function table(headers: string[], rows: Child[][], opts: { numeric?: number[]; classes?: (string | undefined)[] } = {}): HTMLTableElement {
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, ...headers.map((x, i) => h('th', { class: opts.numeric?.includes(i) ? 'num' : '' }, x)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c, i) => h('td', { class: opts.numeric?.includes(i) ? 'num' : (opts.classes?.[i] ?? '') }, c))))),
  );
}

export const badge = (status: string) => h('span', { class: `badge st-${status}`, attrs: { 'data-status': status } }, status);

export function when(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined) return '';
  return new Date(iso).toISOString().replace('T', ' ').slice(0, 19);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function seconds(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '';
  if (n < 120) return `${Math.round(n)} s`;
  if (n < 7200) return `${(n / 60).toFixed(1)} min`;
  return `${(n / 3600).toFixed(1)} h`;
}
