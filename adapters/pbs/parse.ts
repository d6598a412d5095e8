/**
 * Parsers for PBS Pro/OpenPBS, Torque and the slurm-wlm-torque wrappers: qsub, qstat (JSON,
 * XML, text) and qdel. Pure: text and ExecResult in, values or a BridgeError out.
 *
 * Every status format is first turned into the same `PbsJobRecord` (the job id and a flat map of
 * attributes with dotted names, `Resource_List.walltime`), then into an `Observation`. Variable_List
 * is dropped on the way: the bridge never needs the job's environment, and it is where nearly all
 * of the malformed output comes from.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { ExecResult, FinalInfo, FinalKind, Observation } from '../../src/domain/adapter.js';
import { BridgeError } from '../../src/domain/errors.js';
import { interpretExitStatus } from './exit.js';
import { arrayParentId, decodePbsJobName, parsePbsJobId } from './ids.js';
import { LenientJsonError, readJsonDocuments, readLenientJson, readLenientValueAt } from './json.js';
import { pbsQueueState, type PbsFlavor } from './states.js';

/** One job as any qstat format describes it. */
export interface PbsJobRecord {
  id: string;
  /** Attribute values as text, nested attributes flattened with dots (`resources_used.walltime`). */
  attrs: Record<string, string>;
  /** Set when the record was salvaged from a broken document by pattern matching. */
  partial?: boolean;
}

export type StatusFormat = 'json' | 'xml' | 'text';

function lines(text: string): string[] {
  return text.replace(/\r\n?/g, '\n').split('\n');
}

function nonEmptyLines(text: string): string[] {
  return lines(text).map((l) => l.trim()).filter((l) => l !== '');
}

function commandOutput(r: ExecResult): string {
  return [r.stdout, r.stderr].filter((s) => s.trim() !== '').join('\n');
}

// ---------------------------------------------------------------------------------------------
// qsub
// ---------------------------------------------------------------------------------------------

/** `123.server`, `123[].server` (array), bare `29` (slurm-wlm-torque wrappers). */
const SUBMITTED_ID_RE = /^\d+(?:\[\d*\])?(?:\.[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/**
 * Failures worth retrying: the server or controller was unreachable or busy, or a per-user queue
 * limit is full for now. Matched against qsub's output, and against sbatch's error that the
 * wrappers embed in theirs (test/fixtures/slurm-22.05/12h-qsub-bad-queue.txt).
 */
const TRANSIENT_SUBMIT = [
  /timed out/i,
  /time ?out/i,
  /connection refused/i,
  /connection reset/i,
  /cannot connect to (?:server|host)/i,
  /could not connect/i,
  /communication failure/i,
  /server not available/i,
  /pbs_iff/i,
  /resource temporarily unavailable/i,
  /try again/i,
  /temporarily/i,
  /would exceed .*limit/i, // PBS Pro max_queued: "would exceed complex's per-user limit of jobs in 'Q' state"
  /maximum number of jobs/i, // Torque max_user_queuable
  /MaxSubmit/i, // Slurm QOS submit limits behind the wrappers
  /unable to contact slurm controller/i,
  /slurm controller not responding/i,
  /zero bytes were transmitted/i,
];

/**
 * The id from qsub's result. On success the id is the last non-empty line (PBS prints nothing else;
 * a site's submit filter may print notices before it). Non-zero exit: SCHEDULER_ERROR (transient)
 * when the server was unreachable or busy, otherwise SUBMIT_REJECTED with qsub's message.
 */
export function parseQsubOutput(r: ExecResult, command: readonly string[] = ['qsub']): string {
  const context = { command, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  if (r.exitCode === 0) {
    const last = nonEmptyLines(r.stdout).at(-1);
    if (last !== undefined && SUBMITTED_ID_RE.test(last)) return last;
    // qsub said it succeeded but printed no id we recognise: the job may exist. The engine's
    // tag lookup decides; a retry without it could submit twice.
    throw new BridgeError('PARSE_ERROR', `qsub exited 0 but printed no job id (last line: ${JSON.stringify(last ?? '')})`, {
      transient: true,
      context: { ...context, mayHaveSubmitted: true },
    });
  }
  const text = commandOutput(r);
  const message = qsubMessage(text);
  if (r.exitCode === null || text === '' || TRANSIENT_SUBMIT.some((re) => re.test(text))) {
    throw new BridgeError('SCHEDULER_ERROR', `qsub failed: ${message || (r.signal ? `killed by ${r.signal}` : `exit status ${r.exitCode}`)}`, {
      transient: true,
      context,
    });
  }
  throw new BridgeError('SUBMIT_REJECTED', `the scheduler rejected the job: ${message}`, { context });
}

/** The most telling line of a qsub error: sbatch's own error inside the wrappers' message, or qsub's. */
function qsubMessage(text: string): string {
  const ls = nonEmptyLines(text).map((l) => l.replace(/^'+|'+$/g, '').trim());
  const sbatch = ls.filter((l) => /^sbatch: error:/.test(l));
  if (sbatch.length > 0) return sbatch.map((l) => l.replace(/^sbatch: error:\s*/, '')).join('; ');
  const qsub = ls.find((l) => /^qsub:/.test(l));
  return (qsub ?? ls[0] ?? '').trim();
}

// ---------------------------------------------------------------------------------------------
// qstat: format detection
// ---------------------------------------------------------------------------------------------

/** Which format a status command's stdout is in; 'empty' for no output at all. */
export function detectStatusFormat(stdout: string): StatusFormat | 'empty' | 'unrecognised' {
  const t = stdout.trimStart();
  if (t === '') return 'empty';
  if (t.startsWith('<')) return 'xml';
  if (t.startsWith('{')) return 'json';
  if (/^Job Id:/m.test(stdout)) return 'text';
  return 'unrecognised';
}

/**
 * Whether a status command failed because qstat does not know an option: the slurm-wlm-torque
 * qstat answers `qstat -x` with "Unknown option: x" and exit 2
 * (test/fixtures/slurm-22.05/12e-qstat-x-running.txt). Returns the refused option letter.
 */
export function refusedStatusOption(r: ExecResult): string | undefined {
  if (r.exitCode === 0) return undefined;
  const m = /Unknown option: (\S+)|invalid option -- '?(\w)'?/.exec(commandOutput(r));
  return m ? (m[1] ?? m[2]) : undefined;
}

/** qstat's complaint about a job that is gone: Torque/PBS "Unknown Job Id", PBS Pro "has finished". */
const VANISHED_JOB = [/Unknown Job Id/i, /Job has finished/i, /has finished, use -x/i];

// ---------------------------------------------------------------------------------------------
// qstat -f -F json (PBS Pro/OpenPBS)
// ---------------------------------------------------------------------------------------------

export interface JsonJobsResult {
  jobs: PbsJobRecord[];
  /**
   * How far the reader had to go: 'strict' (valid JSON), 'lenient' (repairing reader),
   * 'without-variable-list' (the Variable_List blocks were cut out first), 'job-blocks' (each job
   * read on its own, broken ones by pattern).
   */
  strategy: 'strict' | 'lenient' | 'without-variable-list' | 'job-blocks';
  warnings: string[];
}

function scalarText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.map(scalarText).join(',');
  return JSON.stringify(v);
}

function flattenInto(out: Record<string, string>, obj: Record<string, unknown>, prefix: string): void {
  for (const [k, v] of Object.entries(obj)) {
    if (prefix === '' && k === 'Variable_List') continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flattenInto(out, v as Record<string, unknown>, `${prefix}${k}.`);
    else out[`${prefix}${k}`] = scalarText(v);
  }
}

function recordFrom(id: string, obj: unknown): PbsJobRecord | undefined {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const attrs: Record<string, string> = {};
  flattenInto(attrs, obj as Record<string, unknown>, '');
  return { id, attrs };
}

function jobsFromDocuments(values: unknown[]): PbsJobRecord[] {
  const byId = new Map<string, PbsJobRecord>();
  for (const doc of values) {
    if (doc === null || typeof doc !== 'object') continue;
    const jobs = (doc as Record<string, unknown>)['Jobs'];
    if (jobs === null || typeof jobs !== 'object' || Array.isArray(jobs)) continue;
    for (const [id, body] of Object.entries(jobs as Record<string, unknown>)) {
      const rec = recordFrom(id, body);
      if (rec) byId.set(id, rec);
    }
  }
  return [...byId.values()];
}

/**
 * Cut every `"Variable_List": { … }` block out of pretty-printed qstat JSON. qstat prints the
 * closing brace on its own line at the key's indentation, which a value cannot reproduce without
 * a raw newline followed by exactly that indentation and brace.
 */
export function dropVariableLists(text: string): string {
  const ls = lines(text);
  const out: string[] = [];
  for (let i = 0; i < ls.length; i++) {
    const m = /^(\s*)"Variable_List"\s*:\s*\{\s*$/.exec(ls[i]!);
    if (!m) {
      out.push(ls[i]!);
      continue;
    }
    const indent = m[1]!;
    let j = i + 1;
    while (j < ls.length && !new RegExp(`^${indent}\\}\\s*,?\\s*$`).test(ls[j]!)) j++;
    if (j >= ls.length) {
      out.push(ls[i]!); // no closing line: leave the text alone
      continue;
    }
    // Keep the member separator right: if the block ended with "}," the next member follows.
    const trailingComma = /,\s*$/.test(ls[j]!);
    if (!trailingComma) {
      // The block was the last member: drop the comma after the previous member.
      for (let k = out.length - 1; k >= 0; k--) {
        if (out[k]!.trim() === '') continue;
        out[k] = out[k]!.replace(/,\s*$/, '');
        break;
      }
    }
    i = j;
  }
  return out.join('\n');
}

/** Job keys in qstat JSON look like job ids and open an object on their own line. */
const JSON_JOB_START = /^\s*"(\d+(?:\[\d*\])?(?:\.[^"\s]*)?)"\s*:\s*\{\s*$/;
/** Top-level attributes worth salvaging from a block no reader could parse. */
const SALVAGE_STRINGS = ['Job_Name', 'Job_Owner', 'job_state', 'queue', 'comment', 'stime', 'obittime', 'exec_host'];
const SALVAGE_NUMBERS = ['Exit_status', 'substate', 'run_count'];

function salvageBlock(id: string, block: string): PbsJobRecord | undefined {
  const attrs: Record<string, string> = {};
  for (const k of SALVAGE_STRINGS) {
    const m = new RegExp(`"${k}"\\s*:\\s*"([^"\\n]*)"`).exec(block);
    if (m) attrs[k] = m[1]!;
  }
  for (const k of SALVAGE_NUMBERS) {
    const m = new RegExp(`"${k}"\\s*:\\s*(-?\\d+)`).exec(block);
    if (m) attrs[k] = m[1]!;
  }
  if (attrs['job_state'] === undefined) return undefined;
  return { id, attrs, partial: true };
}

function jobsFromBlocks(text: string): { jobs: PbsJobRecord[]; warnings: string[] } {
  const ls = lines(text);
  const starts: { line: number; id: string }[] = [];
  ls.forEach((l, i) => {
    const m = JSON_JOB_START.exec(l);
    if (m) starts.push({ line: i, id: m[1]! });
  });
  const jobs: PbsJobRecord[] = [];
  const warnings: string[] = [];
  starts.forEach((s, n) => {
    const end = n + 1 < starts.length ? starts[n + 1]!.line : ls.length;
    // The next job's first line is kept so that the reader can see what follows the last member.
    const block = ls.slice(s.line, end + 1).join('\n');
    try {
      const { value } = readLenientValueAt(block, block.indexOf('{'), ['object', 'object']);
      const rec = recordFrom(s.id, value);
      if (rec && rec.attrs['job_state'] !== undefined) {
        jobs.push(rec);
        return;
      }
    } catch {
      // fall through to salvage
    }
    const salvaged = salvageBlock(s.id, block);
    if (salvaged) {
      warnings.push(`job ${s.id}: block unreadable, salvaged ${Object.keys(salvaged.attrs).join(', ')}`);
      jobs.push(salvaged);
    } else {
      warnings.push(`job ${s.id}: block unreadable and no job_state found; skipped`);
    }
  });
  return { jobs, warnings };
}

/**
 * Jobs from `qstat -f -F json [-x] [-t]` output (one or more documents). Throws PARSE_ERROR when
 * nothing can be read.
 */
export function parsePbsproJson(text: string): JsonJobsResult {
  try {
    const r = readJsonDocuments(text);
    return { jobs: jobsFromDocuments(r.values), strategy: r.strategy, warnings: r.warnings };
  } catch (e) {
    if (!(e instanceof LenientJsonError)) throw e;
  }
  const stripped = dropVariableLists(text);
  if (stripped !== text) {
    try {
      const r = readLenientJson(stripped);
      return { jobs: jobsFromDocuments(r.values), strategy: 'without-variable-list', warnings: ['Variable_List blocks removed before reading', ...r.warnings] };
    } catch (e) {
      if (!(e instanceof LenientJsonError)) throw e;
    }
  }
  const b = jobsFromBlocks(text);
  if (b.jobs.length > 0) return { jobs: b.jobs, strategy: 'job-blocks', warnings: b.warnings };
  throw new BridgeError('PARSE_ERROR', 'qstat -F json output could not be read, even job by job', {
    transient: true,
    context: { stdout: text },
  });
}

// ---------------------------------------------------------------------------------------------
// qstat -f (text; PBS Pro, Torque, wrappers)
// ---------------------------------------------------------------------------------------------

const ATTR_RE = /^([A-Za-z_][A-Za-z0-9_.-]*) =(?: (.*))?$/;

/**
 * Jobs from `qstat -f` text. The format, as the fixtures show it:
 *  - a `Job Id: <id>` line starts each job (the wrappers put a tab after the colon);
 *  - attributes are `<indent>name = value`; the indent is 4 spaces (PBS Pro, Torque) or a tab
 *    (wrappers), taken from the first attribute of each job;
 *  - PBS wraps long values at a fixed width, mid-token, onto continuation lines indented with a
 *    tab (PBS Pro; pbspro_qstat_f_aiida_*.txt) or 8 spaces (a tab expanded; torque_qstat_f_buildtest_completed.txt):
 *    they are joined with nothing in between;
 *  - values may contain raw newlines (sched_hint, comment, BASH_FUNC bodies): unindented lines and
 *    blank lines inside a value are kept as newlines (pbspro_qstat_f_aiida_unexpected_newlines.txt).
 */
export function parseQstatFullText(text: string): PbsJobRecord[] {
  const jobs: PbsJobRecord[] = [];
  let cur: { id: string; attrs: Record<string, string>; indent?: string } | undefined;
  let lastKey: string | undefined;
  let blanks = 0;
  const append = (s: string, sep: string) => {
    if (!cur || lastKey === undefined) return;
    cur.attrs[lastKey] = `${cur.attrs[lastKey] ?? ''}${'\n'.repeat(blanks)}${sep}${s}`;
    blanks = 0;
  };
  for (const line of lines(text)) {
    const hdr = /^Job Id:\s*(\S.*?)\s*$/.exec(line);
    if (hdr) {
      cur = { id: hdr[1]!, attrs: {} };
      jobs.push(cur);
      lastKey = undefined;
      blanks = 0;
      continue;
    }
    if (!cur) continue;
    if (line.trim() === '') {
      if (lastKey !== undefined) blanks++;
      continue;
    }
    const indent = /^[ \t]*/.exec(line)![0];
    const isAttrIndent = cur.indent === undefined ? indent !== '' : indent === cur.indent;
    if (isAttrIndent) {
      const m = ATTR_RE.exec(line.slice(indent.length));
      if (m) {
        cur.indent ??= indent;
        lastKey = m[1]!;
        cur.attrs[lastKey] = (m[2] ?? '').trimEnd();
        blanks = 0;
        continue;
      }
    }
    if (line.startsWith('\t') && cur.indent !== '\t') {
      append(line.slice(1), ''); // wrapped by PBS: no separator
    } else if (cur.indent !== undefined && /^ /.test(cur.indent) && indent.length > cur.indent.length && !indent.includes('\t')) {
      append(line.slice(Math.min(indent.length, 8)), ''); // a tab expanded to spaces
    } else {
      append(line, '\n'); // a raw newline inside the value
    }
  }
  return jobs.map((j) => {
    for (const k of Object.keys(j.attrs)) j.attrs[k] = j.attrs[k]!.replace(/\s+$/, '');
    delete j.attrs['Variable_List'];
    return { id: j.id, attrs: j.attrs };
  });
}

// ---------------------------------------------------------------------------------------------
// qstat -x (Torque XML)
// ---------------------------------------------------------------------------------------------

const xmlParser = new XMLParser({
  ignoreAttributes: true,
  // Keep every value as text: ids like "00123" and exit statuses must not become numbers.
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  // One job still reads as a list.
  isArray: (_name, jpath) => String(jpath) === 'Data.Job',
});

function xmlJobs(doc: unknown): PbsJobRecord[] {
  const data = (doc as Record<string, unknown> | undefined)?.['Data'];
  const list = (data as Record<string, unknown> | undefined)?.['Job'];
  if (!Array.isArray(list)) return [];
  const out: PbsJobRecord[] = [];
  for (const job of list) {
    if (job === null || typeof job !== 'object') continue;
    const attrs: Record<string, string> = {};
    flattenInto(attrs, job as Record<string, unknown>, '');
    const id = attrs['Job_Id'];
    if (!id) continue;
    delete attrs['Job_Id'];
    out.push({ id, attrs });
  }
  return out;
}

/**
 * Jobs from Torque `qstat -x` XML. Variable_List and submit_args are removed before parsing: Torque
 * does not escape `<` or `&` in them, and they are the fields a user controls. If the document is
 * still not well-formed each `<Job>` is read on its own, and a broken one is salvaged by pattern.
 */
export function parseTorqueXml(text: string): { jobs: PbsJobRecord[]; warnings: string[] } {
  const cleaned = text.replace(/<Variable_List>[\s\S]*?<\/Variable_List>/g, '').replace(/<submit_args>[\s\S]*?<\/submit_args>/g, '');
  if (cleaned.trim() === '') return { jobs: [], warnings: [] };
  if (XMLValidator.validate(cleaned) === true) return { jobs: xmlJobs(xmlParser.parse(cleaned)), warnings: [] };
  const warnings = ['qstat -x output is not well-formed XML; reading job by job'];
  const jobs: PbsJobRecord[] = [];
  for (const block of cleaned.match(/<Job>[\s\S]*?<\/Job>/g) ?? []) {
    const wrapped = `<Data>${block}</Data>`;
    if (XMLValidator.validate(wrapped) === true) {
      jobs.push(...xmlJobs(xmlParser.parse(wrapped)));
      continue;
    }
    const get = (tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(block)?.[1];
    const id = get('Job_Id');
    const state = get('job_state');
    if (!id || !state) {
      warnings.push('skipped a <Job> without a readable Job_Id and job_state');
      continue;
    }
    const attrs: Record<string, string> = { job_state: state };
    for (const k of ['Job_Name', 'Job_Owner', 'exit_status', 'queue', 'exec_host', 'start_time', 'comp_time']) {
      const v = get(k);
      if (v !== undefined) attrs[k] = v;
    }
    warnings.push(`job ${id}: salvaged by pattern`);
    jobs.push({ id, attrs, partial: true });
  }
  if (jobs.length === 0 && !/<Job>/.test(cleaned) && /^\s*<Data\s*\/?>\s*(<\/Data>)?\s*$/.test(cleaned)) return { jobs, warnings: [] };
  if (jobs.length === 0) {
    throw new BridgeError('PARSE_ERROR', 'qstat -x output is not XML the bridge can read', { transient: true, context: { stdout: text } });
  }
  return { jobs, warnings };
}

// ---------------------------------------------------------------------------------------------
// Records → observations
// ---------------------------------------------------------------------------------------------

/** "HH:MM:SS" (hours may exceed 24, "71582788:15:00" on the wrappers) or seconds → seconds. */
export function parseDuration(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  let m = /^(\d+):(\d{1,2}):(\d{1,2})(?:\.\d+)?$/.exec(t);
  if (m) return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  m = /^(\d+):(\d{1,2})$/.exec(t);
  if (m) return Number(m[1]) * 60 + Number(m[2]);
  if (/^\d+$/.test(t)) return Number(t);
  return undefined;
}

const SIZE_UNITS: Readonly<Record<string, number>> = { b: 1, w: 8, kb: 1024, kw: 8 * 1024, mb: 1024 ** 2, mw: 8 * 1024 ** 2, gb: 1024 ** 3, gw: 8 * 1024 ** 3, tb: 1024 ** 4, tw: 8 * 1024 ** 4 };

/** PBS sizes ("5620kb", "4gb", "200mb", "1024"; bare numbers are bytes) → bytes. */
export function parseSize(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?[bw])?$/i.exec(v.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (SIZE_UNITS[(m[2] ?? 'b').toLowerCase()] ?? 1));
}

const MONTHS: Readonly<Record<string, string>> = { Jan: '01', Feb: '02', Mar: '03', Apr: '04', May: '05', Jun: '06', Jul: '07', Aug: '08', Sep: '09', Oct: '10', Nov: '11', Dec: '12' };

/**
 * PBS times: ctime-style text in the server's local time ("Wed Mar 17 20:36:48 2021") becomes
 * "2021-03-17T20:36:48" (no zone, as Slurm prints); epoch seconds (Torque XML) become UTC ISO.
 */
export function parsePbsTime(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (/^\d{9,11}$/.test(t)) return new Date(Number(t) * 1000).toISOString().replace('.000Z', 'Z');
  const m = /^[A-Z][a-z]{2}\s+([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{2}:\d{2}:\d{2})\s+(\d{4})$/.exec(t);
  if (m && MONTHS[m[1]!]) return `${m[4]}-${MONTHS[m[1]!]}-${m[2]!.padStart(2, '0')}T${m[3]}`;
  return undefined;
}

function nodeList(execHost: string | undefined): string | undefined {
  if (!execHost) return undefined;
  const hosts: string[] = [];
  for (const part of execHost.split('+')) {
    const h = part.split('/')[0]!.trim();
    if (h && !hosts.includes(h)) hosts.push(h);
  }
  return hosts.length > 0 ? hosts.join(',') : undefined;
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

/** Hold_Types letters (PBS Pro and Torque). */
const HOLD_TYPES: Readonly<Record<string, string>> = { u: 'user', o: 'operator', s: 'system', p: 'bad password', a: 'array', l: 'array slot limit' };

function observationReason(a: Record<string, string>, letter: string): string | undefined {
  const comment = a['comment']?.trim();
  if (comment) return comment;
  if (letter === 'H') {
    const holds = [...(a['Hold_Types'] ?? '')].map((c) => HOLD_TYPES[c]).filter(Boolean);
    const dep = a['depend'];
    if (dep) return `held${holds.length ? ` (${holds.join(', ')})` : ''}: waiting on dependency ${dep}`;
    return holds.length ? `held (${holds.join(', ')})` : 'held';
  }
  return undefined;
}

/**
 * PBS Pro substates of a finished (F) job, as OpenPBS 23.06 set them (test/fixtures/openpbs-23.06):
 * 91 deleted (qdel, queued or running), 92 finished (ran to its end, or deleted by the server
 * for a dependency), 93 failed (non-zero exit, limit kill).
 */
const PBSPRO_SUBSTATE_TERMINATED = 91;
const PBSPRO_SUBSTATE_FINISHED = 92;

/**
 * How a finished job ended, from its record. `letter` is its job_state (F, X or C).
 *
 *  - With an exit status: interpretExitStatus, then, when the job shell or a command was killed
 *    by a signal (or Torque's -10, which older Torque used for any limit), the record's own usage
 *    decides whether that was a limit: walltime used ≥ requested → timeout; memory used ≥ 90 % of
 *    requested → out_of_memory. qdel, walltime and memory kills all send the same signals.
 *  - Without one: Torque C from the slurm-wlm-torque wrappers (they never print exit_status, and
 *    print C for completed, failed, cancelled and timed-out jobs alike), or a PBS Pro job deleted
 *    before it ran. Kind 'unknown': the engine must ask the job's exit-code file.
 */
export function finalFromRecord(rec: PbsJobRecord, flavor: PbsFlavor): FinalInfo {
  const a = rec.attrs;
  const letter = (a['job_state'] ?? '').trim();
  const info: FinalInfo = { kind: 'unknown', nativeState: letter };
  const elapsed = parseDuration(a['resources_used.walltime']);
  if (elapsed !== undefined) info.elapsedSeconds = elapsed;
  const rss = parseSize(a['resources_used.mem']);
  if (rss !== undefined) info.maxRssBytes = rss;
  const nodes = nodeList(a['exec_host']);
  if (nodes) info.nodeList = nodes;
  const start = parsePbsTime(a['stime'] ?? a['start_time']);
  if (start) info.startTime = start;
  const end = parsePbsTime(a['obittime'] ?? a['comp_time']);
  if (end) info.endTime = end;

  const raw = a['Exit_status'] ?? a['exit_status'];
  const substate = flavor === 'pbspro' && letter === 'F' ? Number(a['substate']) : Number.NaN;
  if (raw === undefined || raw.trim() === '') {
    const comment = a['comment'] ?? '';
    if (/depend/i.test(comment) && /delet|abort|never/i.test(comment)) {
      return { ...info, kind: 'dependency', exitCode: null, reason: comment };
    }
    // OpenPBS 23.06 deletes a job whose afterok parent failed and keeps it in history as F,
    // substate 92, with no Exit_status, no comment and no stime: only its `depend` says why
    // (test/fixtures/openpbs-23.06/17_*). Without that the job would look lost.
    if (substate === PBSPRO_SUBSTATE_FINISHED && a['depend'] && start === undefined) {
      return { ...info, kind: 'dependency', exitCode: null, reason: `deleted by the server: dependency ${a['depend']} can no longer be met` };
    }
    // qdel of a queued job: F, substate 91, no Exit_status (29_*).
    if (substate === PBSPRO_SUBSTATE_TERMINATED) {
      return { ...info, kind: 'cancelled', exitCode: null, reason: `deleted before it ran${comment ? ` (${comment})` : ''}` };
    }
    info.exitCode = null;
    info.reason =
      letter === 'C'
        ? 'finished (state C) with no exit status: this Torque server (or the slurm-wlm-torque wrappers, which never report one) does not say how it ended; use the exit-code file'
        : letter === 'U' && flavor === 'torque'
          ? 'finished (state U: the slurm-wlm-torque wrappers print U for Slurm OUT_OF_MEMORY and DEADLINE) with no exit status; use the exit-code file'
          : `finished (state ${letter || '?'}) with no exit status${comment ? `: ${comment}` : ''}`;
    return info;
  }

  if (flavor === 'pbspro' && parsePbsJobId(rec.id)?.isArray) {
    // An array job's Exit_status summarises its subjobs (PBS Pro User's Guide, job array exit
    // status: 0 all subjobs exited 0, 1 at least one did not, 2 a PBS error; read in secondary
    // notes, not verified on a server). It is never a script's exit code.
    const v = raw.trim();
    const summary: Record<string, [FinalKind, string]> = {
      '0': ['completed', 'every subjob exited 0'],
      '1': ['failed', 'at least one subjob exited non-zero'],
      '2': ['failed', 'PBS reported an error for at least one subjob'],
    };
    const [kind, reason] = summary[v] ?? ['unknown', `array job exit status ${v}`];
    return { ...info, kind, exitCode: null, signal: null, reason };
  }
  const ex = interpretExitStatus(raw, flavor);
  // qdel of a running job: 271 (SIGTERM + 256) with substate 91 and "terminated by <user>" in the
  // comment (31_*). The signal alone is also what a limit kill sends; the substate is not.
  if (substate === PBSPRO_SUBSTATE_TERMINATED && ex.signal !== null) {
    return { ...info, kind: 'cancelled', exitCode: null, signal: ex.signal, reason: `deleted while running (${ex.reason})` };
  }
  let kind: FinalKind = ex.kind;
  let reason = ex.reason;
  const killed = ex.signal !== null || ex.childSignal !== undefined || ex.pbsCode === 'JOB_EXEC_OVERLIMIT_MEM';
  if (killed && (kind === 'failed' || kind === 'out_of_memory')) {
    const wallReq = parseDuration(a['Resource_List.walltime']);
    const memReq = parseSize(a['Resource_List.mem']);
    if (elapsed !== undefined && wallReq !== undefined && wallReq > 0 && elapsed >= wallReq) {
      kind = 'timeout';
      reason = `walltime exceeded (used ${a['resources_used.walltime']} of ${a['Resource_List.walltime']}); ${ex.reason}`;
    } else if (kind === 'failed' && rss !== undefined && memReq !== undefined && memReq > 0 && rss >= 0.9 * memReq) {
      kind = 'out_of_memory';
      reason = `memory limit exceeded (used ${gib(rss)} of ${gib(memReq)}); ${ex.reason}`;
    }
  }
  return { ...info, kind, exitCode: ex.exitCode, signal: ex.signal, reason };
}

/** One job record as the engine sees it. */
export function recordToObservation(rec: PbsJobRecord, flavor: PbsFlavor): Observation {
  const a = rec.attrs;
  const letter = (a['job_state'] ?? '').trim();
  const state = pbsQueueState(letter, flavor);
  const parsed = parsePbsJobId(rec.id);
  const obs: Observation = { nativeId: rec.id, state, nativeState: letter };
  if (parsed?.index !== undefined) {
    obs.arrayIndex = parsed.index;
    const parent = arrayParentId(rec.id);
    if (parent) obs.arrayId = parent;
  }
  const name = decodePbsJobName(a['Job_Name'], flavor, obs.arrayIndex);
  if (name !== undefined) obs.name = name;
  const reason = observationReason(a, letter);
  if (reason) obs.reason = reason;
  if (state === 'done') obs.final = finalFromRecord(rec, flavor);
  return obs;
}

export interface ParsedStatus {
  observations: Observation[];
  format: StatusFormat | 'empty';
  warnings: string[];
}

/** Records from a status command's stdout, whatever qstat format it is in. */
export function parseStatusText(stdout: string): { jobs: PbsJobRecord[]; format: StatusFormat | 'empty'; warnings: string[] } {
  const format = detectStatusFormat(stdout);
  switch (format) {
    case 'empty':
      return { jobs: [], format, warnings: [] };
    case 'json': {
      const r = parsePbsproJson(stdout);
      return { jobs: r.jobs, format, warnings: r.strategy === 'strict' ? r.warnings : [`JSON read with strategy "${r.strategy}"`, ...r.warnings] };
    }
    case 'xml': {
      const r = parseTorqueXml(stdout);
      return { jobs: r.jobs, format, warnings: r.warnings };
    }
    case 'text':
      return { jobs: parseQstatFullText(stdout), format, warnings: [] };
    default:
      throw new BridgeError('PARSE_ERROR', 'qstat printed something that is neither JSON, XML nor `qstat -f` text', {
        transient: true,
        context: { stdout },
      });
  }
}

/**
 * A status command's result → observations. A failed command throws SCHEDULER_ERROR: a failed poll
 * is never "no jobs". Two non-zero exits are not failures:
 *  - stderr only says some listed jobs are gone ("Unknown Job Id": the bridge's PBS Pro program
 *    lists ids with qselect, and a history job can expire before qstat reads it);
 *  - exit 153 with no output at all: the slurm-wlm-torque qstat exits 153 when it printed no job
 *    (its `$rc = 153` default), i.e. the user has no jobs.
 * "Unknown option" (the wrappers refusing `qstat -x`) throws a non-transient SCHEDULER_ERROR whose
 * context says which format to use instead (see index.ts for the fallback design).
 */
export function parseStatusResult(r: ExecResult, flavor: PbsFlavor, command?: readonly string[]): ParsedStatus {
  const context = { command, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  if (r.exitCode === null) {
    throw new BridgeError('SCHEDULER_ERROR', `qstat was killed${r.signal ? ` by ${r.signal}` : ''}`, { transient: true, context });
  }
  if (r.exitCode !== 0) {
    const refused = refusedStatusOption(r);
    if (refused !== undefined) {
      throw new BridgeError('SCHEDULER_ERROR', `qstat does not support -${refused} here (the slurm-wlm-torque wrappers have no XML output); use the text status format`, {
        transient: false,
        context: { ...context, statusFormatRefused: refused === 'x' ? 'xml' : refused, suggestedStatusFormat: 'text' },
      });
    }
    const errLines = nonEmptyLines(r.stderr);
    const onlyVanished = errLines.every((l) => VANISHED_JOB.some((re) => re.test(l)));
    const emptyWrapperAnswer = r.exitCode === 153 && r.stdout.trim() === '' && errLines.length === 0;
    if (!(emptyWrapperAnswer || (onlyVanished && errLines.length > 0))) {
      throw new BridgeError('SCHEDULER_ERROR', `qstat failed (exit ${r.exitCode})${errLines[0] ? `: ${errLines[0]}` : ''}`, { transient: true, context });
    }
  }
  const { jobs, format, warnings } = parseStatusText(r.stdout);
  return { observations: jobs.map((j) => recordToObservation(j, flavor)), format, warnings };
}

/** Finished jobs from an accounting query (PBS Pro `qstat -f -F json -x <ids>`). */
export function parseAccountingResult(r: ExecResult, flavor: PbsFlavor, command?: readonly string[]): Map<string, FinalInfo> {
  const out = new Map<string, FinalInfo>();
  for (const o of parseStatusResult(r, flavor, command).observations) {
    if (o.final) out.set(o.nativeId, o.final);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// qdel
// ---------------------------------------------------------------------------------------------

/**
 * qdel messages that mean "nothing left to cancel": the job is unknown (finished and purged, or
 * never existed on this server), already finished (PBS Pro: "qdel: Job <id> has finished"), or
 * already exiting (PBSE_BADSTATE, "Request invalid for state of job"; Torque adds "- COMPLETE" or
 * "- EXITING"). The wrappers print "qdel: Kill job error on job id N: <slurm error>" only for Slurm
 * errors other than already-done and invalid-id, so a completing job shows up as Slurm's text.
 */
const ALREADY_GONE = [
  /Unknown Job Id/i,
  /has finished/i,
  /already (?:finished|completed|exited|been deleted)/i,
  /Request invalid for state of job/i,
  /invalid state for job/i,
  /already completing or completed/i,
  /Invalid job id specified/i,
];

/** Failures that retrying will not fix. */
const PERMANENT_CANCEL = [/Unauthorized Request/i, /not authorized/i, /permission denied/i, /Access denied/i];

/**
 * Throws only when cancellation truly failed. PBS exit codes for reference: 153 = PBSE_UNKJOBID
 * (15001 mod 256), 35 = PBSE_HISTJOBID "job has finished" (15139 mod 256). The slurm-wlm-torque qdel
 * exits with the number of ids it could not kill and prints nothing for ids Slurm reports as
 * already done or invalid (12g-qdel-queued.txt: `qdel 999999` → exit 1, no output).
 */
export function parseQdelResult(r: ExecResult, flavor: PbsFlavor, command?: readonly string[]): void {
  if (r.exitCode === 0) return;
  const context = { command, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  if (r.exitCode === null) {
    throw new BridgeError('SCHEDULER_ERROR', `qdel was killed${r.signal ? ` by ${r.signal}` : ''}`, { transient: true, context });
  }
  const ls = nonEmptyLines(commandOutput(r));
  if (ls.length === 0) {
    if (flavor === 'torque' || r.exitCode === 153 || r.exitCode === 35) return;
    throw new BridgeError('SCHEDULER_ERROR', `qdel failed with exit ${r.exitCode} and no message`, { transient: true, context });
  }
  const unexplained = ls.filter((l) => !ALREADY_GONE.some((re) => re.test(l)));
  if (unexplained.length === 0) return;
  const permanent = unexplained.some((l) => PERMANENT_CANCEL.some((re) => re.test(l)));
  throw new BridgeError('SCHEDULER_ERROR', `qdel failed: ${unexplained[0]}`, { transient: !permanent, context });
}
