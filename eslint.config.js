// ESLint for the whole tree: the recommended JavaScript and TypeScript rules (syntax only, no
// type information, so a full run stays fast enough for the unit tests), plus the import
// boundaries that keep the shape of the code. test/unit/house/lint.test.ts runs it in `npm test`;
// test/unit/house/boundaries.test.ts shows that each boundary fires.
//
// Boundaries are written with ESLint's own no-restricted-imports, which sees only the specifier
// as written. Relative specifiers are therefore matched per folder depth: a file `k` folders
// below a boundary's root leaves the root exactly when its specifier climbs more than `k` levels,
// and where it lands is then fixed by the root's own path (see `leaving`).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const SOURCES = '{ts,mts,cts,js,mjs,cjs}';
const MAX_DEPTH = 6; // folders below a root; deeper files would escape the per-depth globs

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// `allowed` entries are repository paths: 'src/domain/' (a folder, trailing slash) or
// 'src/jobdir/layout' (one module, any extension or none).
function allowedRegex(rest) {
  if (rest.endsWith('/')) return `${escape(rest)}`;
  return `${escape(rest)}(?:\\.[cm]?[jt]s)?$`;
}

/** no-restricted-imports patterns for files `k` folders below `root` that leave `root` except into `allowed`. */
function leaving(root, k, allowed, message) {
  const rootParts = root.split('/');
  const patterns = [];
  for (let up = k + 1; up <= k + rootParts.length; up += 1) {
    const base = rootParts.slice(0, rootParts.length - (up - k)).join('/');
    const prefix = base ? `${base}/` : '';
    const inside = allowed.filter((a) => a.startsWith(prefix)).map((a) => allowedRegex(a.slice(prefix.length)));
    const except = inside.length ? `(?!(?:${inside.join('|')}))` : '';
    patterns.push({ regex: `^(?:\\.\\./){${up}}(?!\\.\\./)${except}`, message });
  }
  return patterns;
}

// Everywhere in production code: the database driver belongs to the store, and the engine's
// steps are reached only through the engine's loop.
const NO_SQLITE = { group: ['better-sqlite3', 'better-sqlite3/*'], message: 'Only src/store/ talks to SQLite; ask the store.' };
const NO_ENGINE_STEPS = { regex: '(?:^|/)engine/steps(?:/|$)', message: 'The engine steps are internal to src/engine; go through the engine.' };
// import() bypasses no-restricted-imports; the CLI loads modules lazily, so check it too.
const NO_DYNAMIC_SQLITE = { selector: 'ImportExpression[source.value=/^better-sqlite3/]', message: NO_SQLITE.message };
const NO_DYNAMIC_ENGINE_STEPS = { selector: 'ImportExpression[source.value=/engine.steps/]', message: NO_ENGINE_STEPS.message };
const NO_PREPARE = {
  selector: "CallExpression[callee.property.name='prepare']",
  message: 'SQL lives in src/store/; add a store method instead of preparing a statement here.',
};

/** One config block per depth below `root`; each carries every import restriction of its files. */
function boundary(root, { allowed, message, extra = [] }) {
  return Array.from({ length: MAX_DEPTH + 1 }, (_, k) => ({
    files: [`${root}/${'*/'.repeat(k)}*.${SOURCES}`],
    rules: { 'no-restricted-imports': ['error', { patterns: [...extra, ...leaving(root, k, allowed, message)] }] },
  }));
}

// Plain Node globals for the few .mjs scripts (TypeScript files are checked by tsc instead).
const NODE_GLOBALS = Object.fromEntries(
  ['process', 'console', 'Buffer', 'URL', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'fetch', 'AbortController', 'structuredClone'].map(
    (g) => [g, 'readonly'],
  ),
);

export default defineConfig(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.vitest-*/**', '**/coverage/**', 'test/reliability/.last-run/**', 'tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: NODE_GLOBALS },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Unused code is a real finding; a leading underscore marks a parameter kept on purpose.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },

  // Production code: no SQLite outside the store, no engine internals outside the engine.
  {
    files: [`src/**/*.${SOURCES}`, `adapters/**/*.${SOURCES}`],
    ignores: ['src/store/**', 'src/engine/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [NO_SQLITE, NO_ENGINE_STEPS] }],
      'no-restricted-syntax': ['error', NO_PREPARE, NO_DYNAMIC_SQLITE, NO_DYNAMIC_ENGINE_STEPS],
    },
  },
  {
    files: [`src/engine/**/*.${SOURCES}`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [NO_SQLITE] }],
      'no-restricted-syntax': ['error', NO_PREPARE, NO_DYNAMIC_SQLITE],
    },
  },
  {
    files: [`src/store/**/*.${SOURCES}`],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_ENGINE_STEPS] }], 'no-restricted-syntax': ['error', NO_DYNAMIC_ENGINE_STEPS] },
  },

  // The domain is the vocabulary every other part speaks; it depends on none of them.
  ...boundary('src/domain', {
    allowed: [],
    message: 'src/domain imports nothing of the project outside src/domain.',
    extra: [NO_SQLITE, NO_ENGINE_STEPS],
  }),
  // Adapters are pure translations between the domain and one scheduler's text.
  ...boundary('adapters', {
    allowed: ['src/domain/', 'src/jobdir/layout', 'adapters/common/'],
    message: 'adapters import only src/domain, src/jobdir/layout and adapters/common.',
    extra: [NO_SQLITE, NO_ENGINE_STEPS],
  }),
  // One adapter does not reach into another: what they share lives in adapters/common.
  ...boundary('adapters/*', {
    allowed: ['src/domain/', 'src/jobdir/layout', 'adapters/common/'],
    message: 'an adapter imports only its own files, src/domain, src/jobdir/layout and adapters/common.',
    extra: [NO_SQLITE, NO_ENGINE_STEPS],
  }),
  // The job-directory layout is pure (names and parsers, no I/O): adapters import it, so whatever
  // it imports ends up in every adapter.
  {
    files: [`src/jobdir/layout.${SOURCES}`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            NO_SQLITE,
            NO_ENGINE_STEPS,
            ...leaving('src/jobdir', 0, ['src/domain/'], 'src/jobdir/layout imports only src/domain (adapters import it).'),
            { regex: '^(?:node:)?(?:fs|fs/promises|child_process|net|ssh2)$', message: 'src/jobdir/layout does no I/O.' },
          ],
        },
      ],
    },
  },
  // The SDK ships on its own (pack-client.mjs) and must install without native builds: only its
  // own files and Node built-ins.
  ...boundary('src/client', {
    allowed: [],
    message: 'src/client imports only files inside src/client.',
    extra: [{ regex: '^(?!node:|\\.)', message: 'src/client imports no packages: only node: built-ins and its own files.' }],
  }),
  // Examples are what a user copies: they show the SDK and nothing else of the project.
  ...boundary('examples', {
    allowed: ['src/client/index'],
    message: 'examples use the SDK only (src/client/index).',
    extra: [NO_ENGINE_STEPS],
  }),
);
