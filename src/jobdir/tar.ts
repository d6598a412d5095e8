/**
 * A small tar writer and reader (POSIX ustar, with pax headers for long names), so many job
 * directories travel to the cluster, and many small outputs back, as one stream over one exec
 * channel: per file, SFTP costs an open, a write or read and a close round trip, and a sweep
 * has thousands of files. GNU tar on the cluster does the other end.
 *
 * The writer only ever emits regular files and directories under names it has checked (no
 * absolute name, no `..`, no empty or `.` component, no NUL), so what it builds cannot reach
 * outside the directory it is unpacked in. The reader returns regular files only; a link or
 * anything else in an archive from the cluster is reported as such, never followed.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { BridgeError } from '../domain/errors.js';

const BLOCK = 512;

export interface TarEntry {
  /** Relative path, `/`-separated. */
  name: string;
  /** Absent for a directory. */
  data?: Buffer;
  mode: number;
}

/** Why `name` may not be a member of an archive the bridge builds (undefined: fine). */
export function memberNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (name.startsWith('/')) return 'is absolute';
  const segs = name.replace(/\/$/, '').split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..')) return "has an empty, '.' or '..' component";
  return undefined;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, mode: number, type: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function padded(data: Buffer): Buffer[] {
  const rest = data.length % BLOCK;
  return rest === 0 ? [data] : [data, Buffer.alloc(BLOCK - rest)];
}

/** A pax record `<len> path=<name>\n`, where `<len>` counts the whole record, itself included. */
function paxPath(name: string): Buffer {
  const body = ` path=${name}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return Buffer.from(`${len}${body}`, 'utf8');
}

/** The archive of `entries`, gzip-compressed (a sweep's scripts differ in a few bytes each). */
export function packTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const problem = memberNameProblem(e.name);
    if (problem) throw new BridgeError('INTERNAL', `tar member ${JSON.stringify(e.name)} ${problem}`);
    const dir = e.data === undefined;
    const name = dir && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    const size = e.data?.length ?? 0;
    if (Buffer.byteLength(name) > 99) {
      const pax = paxPath(name);
      parts.push(header('PaxHeader', pax.length, 0o644, 'x'), ...padded(pax));
    }
    parts.push(header(Buffer.byteLength(name) > 99 ? name.slice(0, 90) : name, size, e.mode, dir ? '5' : '0'));
    if (e.data && e.data.length > 0) parts.push(...padded(e.data));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return gzipSync(Buffer.concat(parts), { level: 6 });
}

export type ReadMember = { name: string; type: 'file'; data: Buffer } | { name: string; type: 'other' };

function field(h: Buffer, at: number, len: number): string {
  const s = h.subarray(at, at + len);
  const end = s.indexOf(0);
  return s.subarray(0, end < 0 ? len : end).toString('utf8');
}

function size(h: Buffer): number {
  if ((h[124]! & 0x80) !== 0) throw new BridgeError('REMOTE_IO', 'tar member larger than this reader takes');
  return parseInt(field(h, 124, 12).trim() || '0', 8);
}

function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const sp = data.indexOf(0x20, at);
    if (sp < 0) break;
    const len = Number(data.subarray(at, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = data.subarray(sp + 1, at + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    at += len;
  }
  return out;
}

/**
 * The members of a gzip-compressed tar written by GNU tar (gnu or pax format). Throws on a
 * truncated archive: a cut stream must never pass for a shorter one.
 */
export function unpackTar(gz: Buffer): ReadMember[] {
  const buf = gunzipSync(gz);
  const out: ReadMember[] = [];
  let at = 0;
  let longName: string | undefined;
  let ended = false;
  while (at + BLOCK <= buf.length) {
    const h = buf.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) {
      ended = true;
      break;
    }
    const n = size(h);
    const type = String.fromCharCode(h[156]!);
    const dataAt = at + BLOCK;
    if (dataAt + n > buf.length) break;
    const data = buf.subarray(dataAt, dataAt + n);
    at = dataAt + Math.ceil(n / BLOCK) * BLOCK;
    if (type === 'x') {
      longName = paxRecords(data).get('path') ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (type === 'g') continue;
    const prefix = field(h, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    longName = undefined;
    if (type === '0' || type === '\0' || type === '7') out.push({ name, type: 'file', data: Buffer.from(data) });
    else out.push({ name, type: 'other' });
  }
  if (!ended) throw new BridgeError('REMOTE_IO', 'the tar stream from the cluster was cut short', { transient: true });
  return out;
}
