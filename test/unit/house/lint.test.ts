/**
 * ESLint over the whole tree (eslint.config.js), as part of `npm test`: any finding fails this
 * test and is listed as file:line rule message. The cache (.eslintcache, gitignored, keyed on file
 * contents) keeps repeated runs to the files that changed.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

describe('ESLint', () => {
  it('finds nothing in src, adapters, test, bench and examples', { timeout: 300_000 }, async () => {
    const eslint = new ESLint({ cwd: ROOT, cache: true, cacheLocation: resolve(ROOT, '.eslintcache'), cacheStrategy: 'content' });
    const results = await eslint.lintFiles(['.']);

    // A config that silently matched nothing would pass: every folder must have been linted.
    const linted = results.map((r) => r.filePath.slice(ROOT.length + 1));
    for (const dir of ['src/', 'adapters/', 'test/', 'bench/', 'examples/']) {
      expect(linted.some((f) => f.startsWith(dir)), `no file under ${dir} was linted`).toBe(true);
    }
    expect(linted).toContain('test/unit/house/lint.test.ts');

    const findings = results.flatMap((r) =>
      r.messages.map((m) => `${r.filePath.slice(ROOT.length + 1)}:${m.line}:${m.column} ${m.ruleId ?? 'parse'} ${m.message}`),
    );
    expect(findings, `${findings.length} ESLint finding(s):\n${findings.join('\n')}`).toEqual([]);
  });
});
