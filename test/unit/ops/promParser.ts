/**
 * A strict parser for the Prometheus text exposition format (0.0.4), for tests. Stricter than
 * Prometheus itself where that catches our mistakes: every sample must belong to a family whose
 * TYPE came first, families must be contiguous, no series may repeat, histogram buckets must be
 * cumulative with a final +Inf bucket equal to _count. Any violation throws with the line number.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const fail = (m: string) => {
      throw new Error(`line ${i + 1}: ${m}: ${JSON.stringify(line)}`);
    };
    if (line === '') fail('empty line');
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) fail('bad metric name');
      let f = families.get(name);
      if (!f) {
        if (current) closed.add(current.name);
        if (closed.has(name)) fail('family split');
        f = { name, type: 'untyped', help: '', samples: [] };
        families.set(name, f);
      } else if (current !== f) fail('family split');
      if (f.samples.length > 0) fail(`${kind} after samples`);
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) fail('bad type');
        f.type = rest as Family['type'];
      } else {
        f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      }
      current = f;
      return;
    }
    const sm = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!sm) fail('not a sample');
    const name = sm![1]!;
    const labels = sm![3] !== undefined ? parseLabels(sm![3], fail) : {};
    const value = parseValue(sm![4]!, fail);
    const base = current && (name === current.name || (current.type === 'histogram' && ['_bucket', '_sum', '_count'].some((s) => name === current!.name + s)));
    if (!base) fail(`sample outside its family (current: ${current?.name ?? 'none'})`);
    if (current!.type === 'counter' && (value < 0 || Number.isNaN(value))) fail('negative counter');
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) fail('duplicate series');
    seen.add(key);
    current!.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function parseLabels(s: string, fail: (m: string) => never): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) fail('label without =');
    const k = s.slice(i, eq);
    if (!LABEL.test(k)) fail(`bad label name ${k}`);
    if (k in out) fail(`repeated label ${k}`);
    if (s[eq + 1] !== '"') fail('label value not quoted');
    let j = eq + 2;
    let v = '';
    for (;;) {
      if (j >= s.length) fail('unterminated label value');
      const c = s[j]!;
      if (c === '\\') {
        const n = s[j + 1];
        if (n === 'n') v += '\n';
        else if (n === '\\' || n === '"') v += n;
        else fail('bad escape');
        j += 2;
      } else if (c === '"') {
        j++;
        break;
      } else if (c === '\n') {
        fail('raw newline in label value');
      } else {
        v += c;
        j++;
      }
    }
    out[k] = v;
    if (j < s.length) {
      if (s[j] !== ',') fail('expected , between labels');
      j++;
    }
    i = j;
  }
  return out;
}

function parseValue(s: string, fail: (m: string) => never): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(s)) fail(`bad value ${s}`);
  return Number(s);
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const e = series.get(key) ?? { buckets: [] };
    series.set(key, e);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      e.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name.endsWith('_sum')) e.sum = s.value;
    else if (s.name.endsWith('_count')) e.count = s.value;
    else throw new Error(`${f.name}: bare sample in a histogram`);
  }
  for (const [key, e] of series) {
    if (e.sum === undefined || e.count === undefined) throw new Error(`${f.name}${key}: missing _sum or _count`);
    const last = e.buckets.at(-1);
    if (!last || last[0] !== Infinity || last[1] !== e.count) throw new Error(`${f.name}${key}: +Inf bucket must be last and equal _count`);
    for (let i = 1; i < e.buckets.length; i++) {
      if (!(e.buckets[i]![0] > e.buckets[i - 1]![0]) || e.buckets[i]![1] < e.buckets[i - 1]![1]) throw new Error(`${f.name}${key}: buckets not increasing and cumulative`);
    }
  }
}
