/**
 * Hostile strings for the injection tests (API on `direct` here, Slurm over SSH in
 * test/e2e/hostile-input.test.ts). Every payload that could run a command would create its own
 * file in the canary directory, so a non-empty canary directory says which payload got through.
 */
import { readdirSync } from 'node:fs';

export interface Payload {
  /** Short label for messages (the canary file name it would create). */
  id: string;
  value: string;
}

/** Shell metacharacters in every position a careless command line could interpret. */
export function hostilePayloads(canaryDir: string): Payload[] {
  const c = (id: string) => `${canaryDir}/${id}`;
  const list: [string, (f: string) => string][] = [
    ['dollar-paren', (f) => `$(touch ${f})`],
    ['backtick', (f) => `\`touch ${f}\``],
    ['single-quote', (f) => `x'; touch ${f}; echo '`],
    ['double-quote', (f) => `x"; touch ${f}; echo "`],
    ['semicolon', (f) => `x; touch ${f}`],
    ['pipe', (f) => `x | touch ${f}`],
    ['and-background', (f) => `x && touch ${f} &`],
    ['newline', (f) => `x\ntouch ${f}`],
    ['crlf', (f) => `x\r\ntouch ${f}`],
    ['nul', (f) => `x\u0000touch ${f}`],
    ['redirect', (f) => `x > ${f}`],
    ['process-subst', (f) => `<(touch ${f})`],
    ['brace', (f) => `{touch,${f}}`],
    ['ansi-c', (f) => `$'\\x24(touch ${f})'`],
    ['escaped-quote', (f) => `\\'$(touch ${f})\\'`],
    ['leading-dash', (f) => `-n $(touch ${f})`],
    ['dollar-brace', (f) => `\${IFS}$(touch\${IFS}${f})`],
    ['lone-surrogate', (f) => `\ud800$(touch ${f})`],
    ['tab-format', (f) => `%s%n\t$(touch ${f})`],
  ];
  return list.map(([id, make]) => ({ id, value: make(c(id)) }));
}

/** The canary files that exist (should be none). */
export function canaries(dir: string): string[] {
  return readdirSync(dir);
}

/** A JSON body whose `marker` string is replaced by raw bytes that are not UTF-8 (0xff 0xfe, a lone continuation byte). */
export function withInvalidUtf8(json: string, marker: string): Buffer {
  const i = json.indexOf(marker);
  if (i < 0) throw new Error(`marker ${marker} not in body`);
  return Buffer.concat([Buffer.from(json.slice(0, i), 'utf8'), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from(json.slice(i + marker.length), 'utf8')]);
}
