/**
 * The one quoting function against bash itself: thousands of random strings (any Unicode,
 * control characters, CR, quotes, $, backticks) quoted with `shellQuote` and read back by bash
 * come back byte for byte, and never contain a raw CR (sbatch refuses scripts with one).
 * test/unit/quote.test.ts has the hand-written cases; this is the property.
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shellJoin, shellQuote } from '../../src/domain/quote.js';

const SEED = process.env.HPCB_FUZZ_SEED ? Number(process.env.HPCB_FUZZ_SEED) : Date.now() % 2 ** 31;

/** Quote every value, let one bash print them NUL-separated, and split them again. */
function throughBash(values: string[]): string[] {
  const out = execFileSync('bash', ['-c', `printf '%s\\0' ${shellJoin(values)}`], { maxBuffer: 64 << 20 });
  return out.toString('utf8').split('\0').slice(0, -1);
}

const tricky = fc.constantFrom('\r', '\n', '\r\n', "'", '"', '`', '$', '$(', '\\', ' ', '\t', '!', '*', '?', '[', '~', '#', ';', '|', '&', '{', '}', '%', '\u00e9', '\u{1F600}', '\u007f', '\u001b');
const value = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: fc.oneof(tricky, fc.string({ minLength: 1, maxLength: 1 })), maxLength: 20 }).map((s) => s),
  fc.array(tricky, { maxLength: 12 }).map((a) => a.join('')),
).filter((s) => !s.includes('\0'));

describe('shellQuote through bash', () => {
  it('returns every string unchanged and never emits a raw carriage return', () => {
    console.log(`[security] quote round trip seed ${SEED}`);
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 200 }), (values) => {
        for (const v of values) expect(shellQuote(v)).not.toContain('\r');
        expect(throughBash(values)).toEqual(values);
      }),
      { seed: SEED, numRuns: 25 },
    );
  });

  it('refuses a NUL byte instead of truncating at it', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});
