/**
 * The column and block formats of the other PBS commands: `qstat` (default and -a/-n tables),
 * `qstat -Q`, `qstat -q`, `qstat -Q -f -F json` and `pbsnodes -a`. The engine's status poll does
 * not use them; they are for cluster checks (queue names and limits before a submit, node state)
 * and for reading what a person pasted from a terminal.
 *
 * Tables are cut along the runs of dashes under the header, because PBS pads every cell to that
 * width (the wrappers' `printf("%-19.19s %-16.16s …")`) while header words can overflow their
 * column (the wrappers' -a header prints "Time Use" in a 5-wide column). Which column is which
 * is known from the number of columns: 6 for the default job table, 11 for the alternate one,
 * 12 for `qstat -Q`, 9 for `qstat -q`.
 */
import { readJsonDocuments } from './json.js';

function lines(text: string): string[] {
  return text.replace(/\r\n?/g, '\n').split('\n');
}

interface Table {
  spans: [number, number][];
  rows: string[][];
}

/** Every table in the text: a dashes line, and the rows under it up to a blank or non-row line. */
function tables(text: string): Table[] {
  const ls = lines(text);
  const out: Table[] = [];
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!;
    if (!/^-[- ]*$/.test(l.trimEnd()) || !/- +-/.test(l)) continue;
    const spans: [number, number][] = [];
    const re = /-+/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(l)) !== null) spans.push([m.index, m.index + m[0].length]);
    const rows: string[][] = [];
    for (let j = i + 1; j < ls.length; j++) {
      const row = ls[j]!;
      // A row starts in the first column; blank lines, totals (which start with spaces) and the
      // next table's header end the table.
      if (row.trim() === '' || /^\s/.test(row) || /^-[- ]*$/.test(row.trimEnd())) break;
      if (j + 1 < ls.length && /^-[- ]*$/.test(ls[j + 1]!.trimEnd()) && /- +-/.test(ls[j + 1]!)) break;
      rows.push(
        spans.map(([a, b], k) => {
          // The last cell runs to the end of the line (the -n -1 form appends the exec host).
          const cell = k === spans.length - 1 ? row.slice(a) : row.slice(a, b);
          return cell.trim();
        }),
      );
      i = j;
    }
    out.push({ spans, rows });
  }
  return out;
}

export interface QstatRow {
  id: string;
  name: string;
  user: string;
  /** The state letter. */
  state: string;
  queue: string;
  /** Extra cells of the alternate format (-a, -n): sessionId, nodes, tasks, memory, walltime, elapsed. */
  extra?: Record<string, string>;
}

/**
 * Rows of `qstat` (default: Job id, Name, User, Time Use, S, Queue) and `qstat -a`/`-n -1`
 * (Job id, Username, Queue, Name, SessID, NDS, TSK, Memory, Req'd Time, S, Elap Time) tables.
 * Ids and names may be truncated by qstat (PBS Pro marks that with `*`); use `qstat -f` for the truth.
 */
export function parseQstatTable(text: string): QstatRow[] {
  const out: QstatRow[] = [];
  for (const t of tables(text)) {
    for (const c of t.rows) {
      if (!/^\d/.test(c[0]!)) continue; // job ids start with their sequence number
      if (t.spans.length === 6) {
        out.push({ id: c[0]!, name: c[1]!, user: c[2]!, state: c[4]!, queue: c[5]! });
      } else if (t.spans.length === 11) {
        const last = c[10]!.split(/\s+/);
        out.push({
          id: c[0]!,
          user: c[1]!,
          queue: c[2]!,
          name: c[3]!,
          state: c[9]!,
          extra: { sessionId: c[4]!, nodes: c[5]!, tasks: c[6]!, memory: c[7]!, walltime: c[8]!, elapsed: last[0]!, ...(last[1] ? { execHost: last.slice(1).join(' ') } : {}) },
        });
      }
    }
  }
  return out;
}

export interface QueueSummary {
  name: string;
  enabled?: boolean;
  started?: boolean;
  /** "E"/"Exec"/"Execution" or "R"/"Route"/"Routing", as printed. */
  type?: string;
  /** From `qstat -q`: the queue's walltime limit, "HH:MM:SS", when it has one. */
  maxWalltime?: string;
  running?: number;
  queued?: number;
}

function yes(v: string | undefined): boolean | undefined {
  if (v === undefined || v === '' || v === '?') return undefined;
  return /^(yes|true|y)$/i.test(v);
}

function count(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * Queues from `qstat -Q` (Queue Max Tot Ena Str Que Run Hld Wat Trn Ext T) and/or `qstat -q`
 * (Queue Memory CPU-Time Walltime Node Run Que Lm State). The wrappers print `?` for counts they
 * do not know (12k-qstat-Q-q.txt); those come back undefined. Both tables may be in one text.
 */
export function parseQueueTables(text: string): QueueSummary[] {
  const byName = new Map<string, QueueSummary>();
  const get = (name: string) => {
    let q = byName.get(name);
    if (!q) byName.set(name, (q = { name }));
    return q;
  };
  for (const t of tables(text)) {
    for (const c of t.rows) {
      if (t.spans.length === 12) {
        const q = get(c[0]!);
        const en = yes(c[3]);
        const st = yes(c[4]);
        if (en !== undefined) q.enabled = en;
        if (st !== undefined) q.started = st;
        const run = count(c[6]);
        const que = count(c[5]);
        if (run !== undefined) q.running = run;
        if (que !== undefined) q.queued = que;
        if (c[11]) q.type = c[11];
      } else if (t.spans.length === 9) {
        const q = get(c[0]!);
        if (/^\d+:\d{2}:\d{2}$/.test(c[3]!)) q.maxWalltime = c[3]!;
        const run = count(c[5]);
        const que = count(c[6]);
        if (run !== undefined) q.running = run;
        if (que !== undefined) q.queued = que;
        const state = c[8]!.split(/\s+/);
        if (state[0] === 'E' || state[0] === 'D') q.enabled = state[0] === 'E';
        if (state[1] === 'R' || state[1] === 'S') q.started = state[1] === 'R';
      }
    }
  }
  return [...byName.values()];
}

/** Queues from PBS Pro `qstat -Q -f -F json` (duplicate keys tolerated, the last one wins). */
export function parseQueuesJson(text: string): (QueueSummary & { attrs: Record<string, unknown> })[] {
  const { values } = readJsonDocuments(text);
  const out: (QueueSummary & { attrs: Record<string, unknown> })[] = [];
  for (const doc of values) {
    const queues = (doc as Record<string, unknown> | null)?.['Queue'];
    if (queues === null || typeof queues !== 'object') continue;
    for (const [name, raw] of Object.entries(queues as Record<string, unknown>)) {
      const attrs = (raw ?? {}) as Record<string, unknown>;
      const q: QueueSummary & { attrs: Record<string, unknown> } = { name, attrs };
      const en = yes(typeof attrs['enabled'] === 'string' ? attrs['enabled'] : undefined);
      const st = yes(typeof attrs['started'] === 'string' ? attrs['started'] : undefined);
      if (en !== undefined) q.enabled = en;
      if (st !== undefined) q.started = st;
      if (typeof attrs['queue_type'] === 'string') q.type = attrs['queue_type'];
      const max = attrs['resources_max'] as Record<string, unknown> | undefined;
      if (max && typeof max['walltime'] === 'string') q.maxWalltime = max['walltime'];
      const sc = typeof attrs['state_count'] === 'string' ? attrs['state_count'] : '';
      const run = /Running:(\d+)/.exec(sc);
      const que = /Queued:(\d+)/.exec(sc);
      if (run) q.running = Number(run[1]);
      if (que) q.queued = Number(que[1]);
      out.push(q);
    }
  }
  return out;
}

export interface PbsNode {
  name: string;
  /** e.g. "free", "job-exclusive", "down,offline". */
  state?: string;
  /** Torque/wrappers `np`, PBS Pro `resources_available.ncpus`. */
  cpus?: number;
  attrs: Record<string, string>;
}

/**
 * Nodes from `pbsnodes -a`: a node name at the start of a line, then indented `key = value` lines,
 * a blank line between nodes (Torque, PBS Pro and the wrappers, 12j-pbsnodes.txt).
 */
export function parsePbsnodes(text: string): PbsNode[] {
  const nodes: PbsNode[] = [];
  let cur: PbsNode | undefined;
  for (const l of lines(text)) {
    if (l.trim() === '') {
      cur = undefined;
      continue;
    }
    if (!/^\s/.test(l)) {
      cur = { name: l.trim(), attrs: {} };
      nodes.push(cur);
      continue;
    }
    const m = /^\s+([A-Za-z_][A-Za-z0-9_.]*) = ?(.*)$/.exec(l);
    if (!m || !cur) continue;
    cur.attrs[m[1]!] = m[2]!.trim();
  }
  for (const n of nodes) {
    if (n.attrs['state'] !== undefined) n.state = n.attrs['state'];
    const cpus = n.attrs['np'] ?? n.attrs['resources_available.ncpus'];
    if (cpus !== undefined && /^\d+$/.test(cpus)) n.cpus = Number(cpus);
  }
  return nodes;
}
