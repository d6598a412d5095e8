#!/usr/bin/env node
// Builds the dashboard (web/src, plain TypeScript DOM modules) into dist/dashboard: one bundled
// ES module, the stylesheet and the page. esbuild only bundles and strips types; `tsc -p
// web/tsconfig.json` type-checks (npm run build runs both). Nothing here is fetched at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const OUT_DIR = join(here, '..', 'dist', 'dashboard');

export async function buildDashboard(outDir = OUT_DIR) {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    outfile: join(outDir, 'app.js'),
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'app.css']) copyFileSync(join(here, f), join(outDir, f));
  return outDir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = await buildDashboard();
  console.log(`dashboard built into ${dir}`);
}
