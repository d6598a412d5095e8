import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellJoin, shellQuote } from '../../src/domain/quote.js';

describe('shellQuote', () => {
  const hostile = ['plain', '', 'two words', "it's", '$(touch /tmp/hpcb-canary)', '`id`', '"dq"', 'a;b|c&d', 'new\nline', '\\back\\slash', '*?[glob]', '-n', 'ünïcödé', "'''", '$HOME ${X:-y}'];

  it('round-trips every string through a real shell literally', () => {
    for (const s of hostile) {
      const out = execFileSync('sh', ['-c', `printf '%s' ${shellQuote(s)}`]).toString();
      expect(out).toBe(s);
    }
    const all = execFileSync('sh', ['-c', `for a in ${shellJoin(hostile)}; do printf '%s\\0' "$a"; done`]).toString();
    expect(all.split('\0').slice(0, -1)).toEqual(hostile);
  });

  it('refuses NUL rather than truncating', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});
