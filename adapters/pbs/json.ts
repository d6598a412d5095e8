/**
 * A tolerant reader for the JSON that PBS Pro/OpenPBS `qstat -F json` prints.
 *
 * qstat builds its JSON by string concatenation and several releases emit documents that
 * JSON.parse rejects (captures in test/fixtures/peers):
 *   - double quotes inside values are not escaped (openpbs PR #830: comments and environment
 *     values containing `"`; BASH_FUNC_* bodies from `qsub -V`, openpbs#2541);
 *   - backslashes are copied through, giving invalid escapes such as `\'`, `\,` (PBS's own comma
 *     escape in Variable_List) and `\u@` from a PS1 prompt (openpbs PR #2049);
 *   - raw newlines and tabs inside strings (BASH_FUNC_* bodies);
 *   - environment values that look numeric are printed bare, `"foo":005` (openpbs#1255);
 *   - duplicate keys (`max_queued` in `qstat -Qf -F json`, openpbs#2677);
 *   - several documents back to back when the bridge's status program runs qstat more than once.
 *
 * Strategy: JSON.parse first (fast, exact). If that fails, a hand-written recursive-descent
 * reader that knows those faults: it decides whether a `"` closes a string by looking at what
 * follows it (a `:` after a key; `,` + something shaped like the next key, `}` or `]` after a
 * value), keeps invalid escapes as literal text (dropping the backslash only for PBS's `\,` and
 * `\'`), accepts raw control characters, keeps leading-zero numbers as strings, and lets the last
 * duplicate key win. Callers (parse.ts) add two more fallbacks that need PBS knowledge: dropping
 * Variable_List blocks, and reading job blocks one at a time.
 */

export class LenientJsonError extends Error {
  override readonly name = 'LenientJsonError';
  constructor(message: string, readonly position: number) {
    super(`${message} at offset ${position}`);
  }
}

export interface JsonReadResult {
  /** Top-level values in order (usually one document). */
  values: unknown[];
  /** 'strict' when JSON.parse accepted the text, 'lenient' when the repairing reader was needed. */
  strategy: 'strict' | 'lenient';
  /** What the lenient reader had to tolerate; empty for strict. */
  warnings: string[];
}

type Ctx = 'key' | 'value';
type Container = 'object' | 'array';

const WS = new Set([' ', '\t', '\n', '\r', '\f', '\v']);
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const STRICT_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

class Reader {
  readonly warnings = new Set<string>();
  pos = 0;
  /** The containers open around the current position, outermost first. */
  private readonly stack: Container[];

  /** `outer`: containers the text sits inside of when only a fragment of a document is read. */
  constructor(
    private readonly s: string,
    outer: readonly Container[] = [],
  ) {
    this.stack = [...outer];
  }

  private skipWs(p: number): number {
    while (p < this.s.length && WS.has(this.s[p]!)) p++;
    return p;
  }

  ws(): void {
    this.pos = this.skipWs(this.pos);
  }

  atEnd(): boolean {
    return this.pos >= this.s.length;
  }

  peek(): string | undefined {
    return this.s[this.pos];
  }

  fail(message: string): never {
    throw new LenientJsonError(message, this.pos);
  }

  /** `"name"` followed by `:`, on one line: the shape of the next key in an object. */
  private looksLikeKey(p: number): boolean {
    if (this.s[p] !== '"') return false;
    let j = p + 1;
    const limit = Math.min(this.s.length, p + 1 + 512);
    while (j < limit && this.s[j] !== '"' && this.s[j] !== '\n') {
      if (this.s[j] === '\\') j++;
      j++;
    }
    if (this.s[j] !== '"') return false;
    j = this.skipWs(j + 1);
    return this.s[j] === ':';
  }

  /**
   * Whether the `"` at `p` ends the string being read, judged by what follows it: after a key, a
   * `:`; after a value, zero or more closers that match the open containers (`}` for objects, `]`
   * for arrays, never more than are open), then either the end of the document or a `,` followed by
   * the next member of the container we are then in (`"key":` in an object, a value in an array).
   */
  private closesString(p: number, ctx: Ctx): boolean {
    let q = this.skipWs(p + 1);
    if (ctx === 'key') return this.s[q] === ':';
    let depth = this.stack.length;
    while (this.s[q] === '}' || this.s[q] === ']') {
      if (depth === 0) return false;
      if (this.s[q] !== (this.stack[depth - 1] === 'object' ? '}' : ']')) return false;
      depth--;
      q = this.skipWs(q + 1);
    }
    if (depth === 0) return q >= this.s.length || this.s[q] === '{' || this.s[q] === '[';
    if (this.s[q] !== ',') return false;
    const r = this.skipWs(q + 1);
    const n = this.s[r];
    if (this.stack[depth - 1] === 'object') return this.looksLikeKey(r) || n === '}';
    return n !== undefined && (n === '"' || n === '{' || n === '[' || n === ']' || n === '-' || n === 't' || n === 'f' || n === 'n' || (n >= '0' && n <= '9'));
  }

  string(ctx: Ctx): string {
    if (this.s[this.pos] !== '"') this.fail('expected a string');
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.s.length) this.fail('unterminated string');
      const ch = this.s[this.pos]!;
      if (ch === '\\') {
        const next = this.s[this.pos + 1];
        if (next === undefined) this.fail('unterminated string');
        const simple = SIMPLE_ESCAPES[next];
        if (simple !== undefined) {
          out += simple;
          this.pos += 2;
          continue;
        }
        if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(this.s.slice(this.pos + 2, this.pos + 6))) {
          out += String.fromCharCode(parseInt(this.s.slice(this.pos + 2, this.pos + 6), 16));
          this.pos += 6;
          continue;
        }
        if (next === ',' || next === "'") {
          // PBS stores commas in Variable_List as "\," and older qstat copied "\'" through;
          // fixed releases print the bare character (openpbs PR #2049).
          this.warnings.add(`dropped the backslash of an invalid escape "\\${next}"`);
          out += next;
          this.pos += 2;
          continue;
        }
        // Any other invalid escape (\$, \h, \u@ from PS1, ...): the backslash was part of the value.
        this.warnings.add('kept a backslash that did not start a valid JSON escape');
        out += '\\';
        this.pos += 1;
        continue;
      }
      if (ch === '"') {
        if (this.closesString(this.pos, ctx)) {
          this.pos++;
          return out;
        }
        this.warnings.add('kept an unescaped double quote inside a string');
        out += '"';
        this.pos++;
        continue;
      }
      if (ch < ' ') this.warnings.add('kept a raw control character inside a string');
      out += ch;
      this.pos++;
    }
  }

  /** An unquoted token: number, true/false/null, or text PBS forgot to quote. */
  private bareword(terminators: string): unknown {
    const start = this.pos;
    while (this.pos < this.s.length && !terminators.includes(this.s[this.pos]!) && !WS.has(this.s[this.pos]!)) this.pos++;
    const token = this.s.slice(start, this.pos).trim();
    if (token === '') this.fail('expected a value');
    if (token === 'true') return true;
    if (token === 'false') return false;
    if (token === 'null') return null;
    if (STRICT_NUMBER.test(token)) return Number(token);
    if (/^-?\d+$/.test(token)) {
      // openpbs#1255: an environment value such as 005 printed as a bare number. Keep its text.
      this.warnings.add('kept a number with leading zeros as a string');
      return token;
    }
    this.warnings.add('read an unquoted value as a string');
    return token;
  }

  value(ctx: Ctx): unknown {
    this.ws();
    const c = this.peek();
    if (c === undefined) this.fail('unexpected end of input');
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string(ctx);
    return this.bareword(this.stack.at(-1) === 'array' ? ',]' : ',}');
  }

  object(): Record<string, unknown> {
    this.pos++; // {
    this.stack.push('object');
    const obj: Record<string, unknown> = {};
    const seen = new Set<string>();
    const done = () => {
      this.stack.pop();
      return obj;
    };
    for (;;) {
      this.ws();
      const c = this.peek();
      if (c === undefined) this.fail('unterminated object');
      if (c === '}') {
        this.pos++;
        return done();
      }
      if (c !== '"') this.fail('expected a quoted key');
      const key = this.string('key');
      this.ws();
      if (this.peek() !== ':') this.fail(`expected ':' after key "${key}"`);
      this.pos++;
      const v = this.value('value');
      if (seen.has(key)) this.warnings.add(`duplicate key "${key}" (the last value wins)`);
      seen.add(key);
      // defineProperty so that a key named "__proto__" is data, not a prototype change.
      Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
      this.ws();
      const d = this.peek();
      if (d === ',') {
        this.pos++;
        this.ws();
        if (this.peek() === '}') this.warnings.add('ignored a trailing comma');
        continue;
      }
      if (d === '}') {
        this.pos++;
        return done();
      }
      this.fail("expected ',' or '}'");
    }
  }

  array(): unknown[] {
    this.pos++; // [
    this.stack.push('array');
    const arr: unknown[] = [];
    const done = () => {
      this.stack.pop();
      return arr;
    };
    for (;;) {
      this.ws();
      const c = this.peek();
      if (c === undefined) this.fail('unterminated array');
      if (c === ']') {
        this.pos++;
        return done();
      }
      arr.push(this.value('value'));
      this.ws();
      const d = this.peek();
      if (d === ',') {
        this.pos++;
        continue;
      }
      if (d === ']') {
        this.pos++;
        return done();
      }
      this.fail("expected ',' or ']'");
    }
  }

  /** Skip text that cannot start a document, up to the next line that starts with { or [. */
  skipToDocument(): boolean {
    const start = this.pos;
    let p = this.pos;
    while (p < this.s.length) {
      const c = this.s[p];
      if ((c === '{' || c === '[') && (p === 0 || this.s[p - 1] === '\n')) break;
      p++;
    }
    if (p > start) this.warnings.add(`skipped ${p - start} characters of text that is not JSON`);
    this.pos = p;
    return p < this.s.length;
  }
}

/**
 * Read one value starting at `start`, text after it ignored. `outer` names the containers the
 * value sits in within the full document (a job object sits in the root object and in "Jobs"), so
 * that string endings are judged as they would be in the whole document.
 */
export function readLenientValueAt(
  text: string,
  start: number,
  outer: readonly ('object' | 'array')[] = [],
): { value: unknown; end: number; warnings: string[] } {
  const r = new Reader(text, outer);
  r.pos = start;
  const value = r.value('value');
  return { value, end: r.pos, warnings: [...r.warnings] };
}

/** The lenient reader alone: every top-level document in `text`. Throws LenientJsonError. */
export function readLenientJson(text: string): { values: unknown[]; warnings: string[] } {
  const r = new Reader(text);
  const values: unknown[] = [];
  // Text before the first document is skipped (qstat -F json combined with a table option prints
  // the table first, openpbs PR #2675); between and after documents only whitespace is allowed,
  // so that a misread never silently swallows the rest of the output.
  r.ws();
  if (!r.atEnd() && r.peek() !== '{' && r.peek() !== '[') r.skipToDocument();
  for (;;) {
    r.ws();
    if (r.atEnd()) break;
    const c = r.peek();
    if (c !== '{' && c !== '[') r.fail('unexpected text after a JSON document');
    values.push(r.value('value'));
  }
  return { values, warnings: [...r.warnings] };
}

/** JSON.parse when it can, the lenient reader when it must. Throws LenientJsonError. */
export function readJsonDocuments(text: string): JsonReadResult {
  if (text.trim() === '') return { values: [], strategy: 'strict', warnings: [] };
  try {
    return { values: [JSON.parse(text) as unknown], strategy: 'strict', warnings: [] };
  } catch {
    const { values, warnings } = readLenientJson(text);
    return { values, strategy: 'lenient', warnings };
  }
}
