#!/usr/bin/env node
// `npm run pack:client`: build, then pack src/client alone as `@hpc-bridge/client`, a package
// with no dependencies and no install scripts, so a laptop installs it without a compiler.
// The root package cannot be that: it depends on ssh2 and better-sqlite3 (native builds).
//
// Refuses to pack if any compiled client file imports something other than a sibling file or
// a node: builtin, which is what keeps ssh2/better-sqlite3/zod out of a client install.
// Prints the tarball's path as the last line.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const built = join(root, 'dist/src/client');
const stage = join(root, 'dist/client-package');
const outDir = join(root, 'dist');

execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

const bad = [];
for (const f of readdirSync(built)) {
  if (!/\.(js|d\.ts)$/.test(f)) continue;
  const source = readFileSync(join(built, f), 'utf8');
  // Examples in doc comments are not imports.
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of text.matchAll(/(?:^|[\s;])(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec.startsWith('node:') || /^\.\/[^/]+\.js$/.test(spec)) continue;
    bad.push(`${f}: imports ${spec}`);
  }
  copyFileSync(join(built, f), join(stage, f));
}
if (bad.length) {
  console.error(`the client must only import its own files and node: builtins:\n  ${bad.join('\n  ')}`);
  process.exit(1);
}

const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pkg = {
  name: '@hpc-bridge/client',
  version: rootPkg.version,
  description: 'Client SDK for the hpc-bridge daemon: jobs as code from Node 20+, no dependencies.',
  type: 'module',
  license: rootPkg.license,
  engines: { node: '>=20.19' },
  main: './index.js',
  types: './index.d.ts',
  exports: { '.': { types: './index.d.ts', default: './index.js' } },
  files: ['*.js', '*.d.ts', 'README.md'],
  dependencies: {},
};
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
writeFileSync(
  join(stage, 'README.md'),
  `# @hpc-bridge/client\n\nThe SDK of hpc-bridge (the same code as \`hpc-bridge/client\`), packed on its own so it installs\nwithout native builds. Set HPC_BRIDGE_URL and HPC_BRIDGE_TOKEN, then:\n\n\`\`\`ts\nimport { Job, Task } from '@hpc-bridge/client';\nconst job = await new Job({ tasks: [new Task('echo hello')] }).create();\nconsole.log((await job.wait()).status, await job.stdout());\n\`\`\`\n`,
);
const out = execFileSync('npm', ['pack', '--pack-destination', outDir, '--json'], { cwd: stage, encoding: 'utf8' });
const [{ filename }] = JSON.parse(out);
console.log(join(outDir, filename));
