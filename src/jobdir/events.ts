/**
 * The event log protocol, daemon side: the argv of the follower program (programs/
 * follow-events.sh), the parser of what it prints, and the parser of one record
 * (src/jobdir/layout.ts, EVENT_RECORD, says what a job script appends).
 *
 * The follower prints byte offsets itself, so the daemon never has to count bytes of a stream
 * that may have been cut mid-line: the offset stored with a record is the one the program said
 * lies just past it, and a reconnect asks for exactly that offset.
 */
import type { EventPhase } from '../domain/state.js';
import { EVENT_RECORD } from './layout.js';
import { programArgv } from './programs.js';

export interface FollowFrom {
  /** Byte offset to read from. */
  offset: number;
  /** The inode the offset belongs to, or null (unknown: the offset is taken for any file). */
  inode: string | null;
}

/** The argv that follows `log` from `from`, checking for appends every `checkMs`. */
export function followProgram(log: string, from: FollowFrom, checkMs: number, heartbeatMs: number): string[] {
  const check = Math.max(10, Math.round(checkMs));
  const every = Math.max(1, Math.round(heartbeatMs / check));
  return programArgv('follow-events', [log, String(from.offset), from.inode ?? '-', (check / 1000).toFixed(3), String(every)]);
}

/** One line of the follower's output. */
export type FollowerLine =
  | { kind: 'open'; inode: string; offset: number }
  | { kind: 'record'; endOffset: number; text: string }
  | { kind: 'beat'; offset: number };

/**
 * Splits the follower's stdout into lines as chunks arrive. A chunk may end mid-line (the
 * channel delivers whatever the network gave); the rest waits for the next chunk. Lines it does
 * not understand are dropped: the program's own output never has them, and a record is only
 * ever taken together with the offset the program printed for it.
 */
export class FollowerOutput {
  private rest = '';

  push(chunk: Buffer | string): FollowerLine[] {
    const text = this.rest + (typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
    const lines = text.split('\n');
    this.rest = lines.pop()!;
    const out: FollowerLine[] = [];
    for (const l of lines) {
      const parsed = parseFollowerLine(l);
      if (parsed) out.push(parsed);
    }
    return out;
  }
}

export function parseFollowerLine(line: string): FollowerLine | undefined {
  let m = /^E (\d+) (.*)$/.exec(line);
  if (m) return { kind: 'record', endOffset: Number(m[1]), text: m[2]! };
  m = /^O (\S+) (\d+)$/.exec(line);
  if (m) return { kind: 'open', inode: m[1]!, offset: Number(m[2]) };
  m = /^H (\d+)$/.exec(line);
  if (m) return { kind: 'beat', offset: Number(m[1]) };
  return undefined;
}

/** What one record says. */
export interface EventRecord {
  tag: string;
  /** The scheduler's id as the job saw it, or null when it could not tell. */
  nativeId: string | null;
  phase: EventPhase;
  /** The script's exit status (end, term), or null. */
  exitCode: number | null;
  /** When it was appended, in ms since the epoch (the node's clock). */
  at: number;
}

const PHASES: readonly string[] = EVENT_RECORD.phases;

/**
 * One record, or undefined for anything else (a half-written or garbage line, a record of a
 * future version): such lines are skipped, never guessed at.
 */
export function parseEventRecord(text: string): EventRecord | undefined {
  const f = text.split(' ');
  if (f.length !== 6 || f[0] !== EVENT_RECORD.version) return undefined;
  const [, tag, id, phase, code, time] = f as [string, string, string, string, string, string];
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(tag) || !PHASES.includes(phase)) return undefined;
  if (!/^[\x21-\x7e]{1,128}$/.test(id)) return undefined;
  if (code !== '-' && !/^\d{1,3}$/.test(code)) return undefined;
  // EPOCHREALTIME uses the locale's decimal separator.
  if (!/^\d{9,11}([.,]\d{1,9})?$/.test(time)) return undefined;
  return {
    tag,
    nativeId: id === '-' ? null : id,
    phase: phase as EventPhase,
    exitCode: code === '-' ? null : Number(code),
    at: Math.round(Number(time.replace(',', '.')) * 1000),
  };
}
