/**
 * PBS job ids and job names.
 *
 * Ids: PBS Pro and Torque print `<seq>[.<server>]`, array jobs `<seq>[]` and their elements
 * `<seq>[<index>]`; the slurm-wlm-torque wrappers print a bare `<seq>` (no server suffix, and
 * array elements are separate numeric jobs). The server suffix is not stable: the Torque XML
 * fixture reports subjobs of `673175[].superserver.stanford.edu` as `673175[19].fruster.stanford.edu`.
 * So the bridge keeps the exact id the scheduler printed and compares ids by `normalizePbsId`.
 *
 * Names: the job name carries the bridge's tag (src/engine/tag.ts, `hb<instance>-<job>-<attempt>`),
 * which the engine uses to find a job whose id was lost. PBS Pro accepts long names (230
 * characters in current OpenPBS, 236 in older releases). Torque's qsub man page has long said a
 * name is at most 15 characters, and Nextflow truncates PBS names to 15 for that reason
 * (nextflow#271); the tag outgrows 15 characters once the bridge job id reaches 10 000. For the
 * torque flavor a longer tag is therefore re-encoded in base 36 (`hc<instance:5><job>-<attempt>`),
 * reversibly: `decodePbsJobName` turns it back into the tag, so the engine never sees the short form.
 */
import { BridgeError } from '../../src/domain/errors.js';
import type { PbsFlavor } from './states.js';

export interface PbsJobId {
  /** The sequence number, e.g. "123". */
  seq: string;
  /** Element index for `123[4].server`. */
  index?: number;
  /** True for an array job as a whole, `123[].server`. */
  isArray: boolean;
  /** Server suffix without the dot, when printed. */
  server?: string;
}

const ID_RE = /^(\d+)(?:\[(\d*)\])?(?:\.(\S+))?$/;

export function parsePbsJobId(id: string): PbsJobId | undefined {
  const m = ID_RE.exec(id.trim());
  if (!m) return undefined;
  const out: PbsJobId = { seq: m[1]!, isArray: m[2] === '' };
  if (m[2] !== undefined && m[2] !== '') out.index = Number(m[2]);
  if (m[3] !== undefined) out.server = m[3];
  return out;
}

/** `123`, `123[]` or `123[4]`: the part of an id that does not depend on which server printed it. */
export function normalizePbsId(id: string): string {
  const p = parsePbsJobId(id);
  if (!p) return id.trim();
  if (p.index !== undefined) return `${p.seq}[${p.index}]`;
  return p.isArray ? `${p.seq}[]` : p.seq;
}

/** For an array element id, the id of its array as this server would print it (`123[4].s` → `123[].s`). */
export function arrayParentId(id: string): string | undefined {
  const m = /^(\d+)\[(\d+)\](.*)$/.exec(id.trim());
  return m ? `${m[1]}[]${m[3]}` : undefined;
}

/** Name length limits by flavor (see the header comment). */
export const DEFAULT_MAX_JOB_NAME: Readonly<Record<PbsFlavor, number>> = { pbspro: 230, torque: 15 };

/** The tag format of src/engine/tag.ts (kept here because adapters may import only src/domain). */
const TAG_RE = /^hb([0-9a-f]{6})-(\d+)-(\d+)$/;
const SHORT_RE = /^hc([0-9a-z]{5})([0-9a-z]+)-([0-9a-z]+)$/;
/** What PBS Pro and Torque accept in a job name without quoting: start with a letter. */
const NAME_RE = /^[A-Za-z][A-Za-z0-9_.+-]*$/;

/**
 * The `-N` value for a tag. The tag is used as is when it fits; for torque a longer bridge tag is
 * re-encoded (reversibly) into 15 characters. Anything that cannot be represented is refused
 * rather than truncated, because a truncated tag would no longer find its job.
 */
export function pbsJobName(tag: string, flavor: PbsFlavor, maxLength = DEFAULT_MAX_JOB_NAME[flavor]): string {
  if (!NAME_RE.test(tag)) {
    throw new BridgeError('INTERNAL', `the job tag "${tag}" is not a valid PBS job name (letters, digits, _ . + - and a leading letter)`, {
      context: { tag },
    });
  }
  if (tag.length <= maxLength) return tag;
  const m = TAG_RE.exec(tag);
  if (m) {
    const short = `hc${parseInt(m[1]!, 16).toString(36).padStart(5, '0')}${BigInt(m[2]!).toString(36)}-${BigInt(m[3]!).toString(36)}`;
    if (short.length <= maxLength) return short;
  }
  throw new BridgeError(
    'INVALID_CONFIG',
    `the job tag "${tag}" does not fit the ${maxLength}-character job name limit of this ${flavor === 'torque' ? 'Torque' : 'PBS'} cluster; raise the adapter's maxJobNameLength if the server accepts longer names`,
    { context: { tag, maxLength } },
  );
}

/**
 * The tag (or plain name) behind a Job_Name as qstat prints it. Undoes the torque short form, and
 * on Torque strips the `-<index>` that Torque appends to the names of array elements
 * (`t.sh-19` for `673175[19]` in torque_qstat_x_xml_fyrd.txt). PBS Pro keeps subjob names as is.
 */
export function decodePbsJobName(name: string | undefined, flavor: PbsFlavor, arrayIndex?: number): string | undefined {
  if (name === undefined) return undefined;
  let n = name.trim();
  if (flavor === 'torque' && arrayIndex !== undefined && n.endsWith(`-${arrayIndex}`) && n.length > `-${arrayIndex}`.length) {
    n = n.slice(0, -`-${arrayIndex}`.length);
  }
  const m = SHORT_RE.exec(n);
  if (m) {
    const inst = parseInt(m[1]!, 36);
    if (inst <= 0xffffff) {
      return `hb${inst.toString(16).padStart(6, '0')}-${parseInt36(m[2]!)}-${parseInt36(m[3]!)}`;
    }
  }
  return n;
}

function parseInt36(s: string): bigint {
  let v = 0n;
  for (const ch of s) v = v * 36n + BigInt(parseInt(ch, 36));
  return v;
}

/**
 * Element `index` of the array qsub answered `arrayId` for: `123[].server` → `123[4].server`
 * (PBS Pro and Torque print subjobs so with `qstat -t`). A bare `123` (no brackets) is taken as
 * the array's sequence number.
 */
export function pbsArrayElementId(arrayId: string, index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new BridgeError('INTERNAL', `array index ${index} is not a non-negative integer`);
  const m = /^(\d+)(?:\[\])?(\.\S+)?$/.exec(arrayId.trim());
  if (!m) throw new BridgeError('INTERNAL', `"${arrayId}" is not a PBS array job id`, { context: { nativeId: arrayId } });
  return `${m[1]}[${index}]${m[2] ?? ''}`;
}

/** `123[4].server` → `{ arrayId: '123[].server', index: 4 }`; anything else (`123`, `123[]`) → undefined. */
export function parsePbsArrayElementId(id: string): { arrayId: string; index: number } | undefined {
  const p = parsePbsJobId(id);
  if (!p || p.index === undefined) return undefined;
  return { arrayId: `${p.seq}[]${p.server !== undefined ? `.${p.server}` : ''}`, index: p.index };
}
