/**
 * The import boundaries of eslint.config.js fire where they should and stay quiet where they
 * should not: small snippets linted as if they lived at a given path (the file need not exist).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const eslint = new ESLint({ cwd: ROOT, overrideConfigFile: resolve(ROOT, 'eslint.config.js') });

/** The boundary findings (rule ids) for `code` placed at `path`. */
async function boundaryRules(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: resolve(ROOT, path) });
  const messages = result!.messages;
  const parseErrors = messages.filter((m) => m.fatal);
  if (parseErrors.length) throw new Error(`snippet does not parse: ${parseErrors[0]!.message}`);
  return messages.map((m) => m.ruleId ?? '').filter((r) => r === 'no-restricted-imports' || r === 'no-restricted-syntax');
}

/** One import of `spec` that is used, so no other rule complains. */
const importOf = (spec: string) => `import { x } from '${spec}';\nexport const y = x;\n`;

// Several patterns may match one import (each reports): only the kind of finding is compared.
const blocked = async (path: string, spec: string) =>
  expect([...new Set(await boundaryRules(path, importOf(spec)))], `${path} importing ${spec}`).toEqual(['no-restricted-imports']);
const allowed = async (path: string, spec: string) => expect(await boundaryRules(path, importOf(spec)), `${path} importing ${spec}`).toEqual([]);

describe('import boundaries', () => {
  it('src/domain imports nothing of the project outside src/domain', async () => {
    await blocked('src/domain/adapter.ts', '../transport/transport.js');
    await blocked('src/domain/adapter.ts', '../store/store.js');
    await blocked('src/domain/adapter.ts', '../../adapters/common/runner.js');
    await blocked('src/domain/deep/thing.ts', '../../engine/loop.js');
    await blocked('src/domain/adapter.ts', 'better-sqlite3');
    // Re-exports and type-only imports are imports too.
    expect(await boundaryRules('src/domain/index.ts', "export { x } from '../jobdir/layout.js';\n")).toEqual(['no-restricted-imports']);
    expect(await boundaryRules('src/domain/adapter.ts', "import type { X } from '../api/app.js';\nexport type Y = X;\n")).toEqual(['no-restricted-imports']);

    await allowed('src/domain/adapter.ts', './jobSpec.js');
    await allowed('src/domain/deep/thing.ts', '../jobSpec.js');
    await allowed('src/domain/jobSpec.ts', 'zod');
    await allowed('src/domain/jobSpec.ts', 'node:path');
  });

  it('adapters import only src/domain, src/jobdir/layout, adapters/common and their own files', async () => {
    await blocked('adapters/slurm/index.ts', '../../src/transport/transport.js');
    await blocked('adapters/slurm/index.ts', '../../src/store/store.js');
    await blocked('adapters/slurm/index.ts', '../../src/jobdir/programs.js');
    await blocked('adapters/slurm/index.ts', '../../src/engine/loop.js');
    await blocked('adapters/pbs/render.ts', '../slurm/render.js');
    await blocked('adapters/common/runner.ts', '../pbs/index.js');
    await blocked('adapters/slurm/index.ts', 'better-sqlite3');
    await blocked('adapters/pbs/deep/x.ts', '../../../src/api/app.js');

    await allowed('adapters/slurm/index.ts', '../../src/domain/adapter.js');
    await allowed('adapters/slurm/render.ts', '../../src/jobdir/layout.js');
    await allowed('adapters/pbs/render.ts', '../common/runner.js');
    await allowed('adapters/pbs/index.ts', './parse.js');
    await allowed('adapters/common/runner.ts', './resources.js');
    await allowed('adapters/pbs/parse.ts', 'fast-xml-parser');
    await allowed('adapters/pbs/deep/x.ts', '../../../src/domain/errors.js');
  });

  it('src/jobdir/layout is pure: only src/domain, no I/O', async () => {
    await blocked('src/jobdir/layout.ts', 'node:fs');
    await blocked('src/jobdir/layout.ts', 'node:child_process');
    await blocked('src/jobdir/layout.ts', '../transport/transport.js');
    await blocked('src/jobdir/layout.ts', '../engine/tag.js');
    await allowed('src/jobdir/layout.ts', '../domain/jobSpec.js');
    await allowed('src/jobdir/layout.ts', 'node:path');
    // The rest of src/jobdir (the program loader) may read files.
    await allowed('src/jobdir/programs.ts', 'node:fs');
  });

  it('src/client imports only its own files and node built-ins', async () => {
    await blocked('src/client/client.ts', 'ssh2');
    await blocked('src/client/client.ts', 'better-sqlite3');
    await blocked('src/client/client.ts', 'zod');
    await blocked('src/client/client.ts', '../domain/jobSpec.js');
    await blocked('src/client/client.ts', '../engine/steps/poll.js');
    await blocked('src/client/client.ts', 'hpc-bridge');

    await allowed('src/client/job.ts', './client.js');
    await allowed('src/client/client.ts', 'node:fs/promises');
  });

  it('nothing outside src/engine imports the engine steps', async () => {
    await blocked('src/api/routes/jobs.ts', '../../engine/steps/submit.js');
    await blocked('src/daemon.ts', './engine/steps/poll.js');
    await blocked('src/ops/maintenance.ts', '../engine/steps/finish.js');
    await blocked('adapters/direct/index.ts', '../../src/engine/steps/poll.js');
    await blocked('examples/07-x.ts', '../src/engine/steps/poll.js');

    const lazy = (spec: string) => `export const load = () => import('${spec}');\n`;
    expect(await boundaryRules('src/cli/commands/daemon.ts', lazy('../../engine/steps/poll.js'))).toEqual(['no-restricted-syntax']);
    expect(await boundaryRules('src/engine/loop.ts', lazy('./steps/poll.js'))).toEqual([]);

    await allowed('src/engine/loop.ts', './steps/poll.js');
    await allowed('src/engine/steps/submit.ts', './stageIn.js');
    await allowed('src/daemon.ts', './engine/loop.js');
  });

  it('only src/store prepares statements or opens better-sqlite3', async () => {
    const prepare = "export function f(db: { prepare(s: string): unknown }) {\n  return db.prepare('SELECT 1');\n}\n";
    expect(await boundaryRules('src/staging/staging.ts', prepare)).toEqual(['no-restricted-syntax']);
    expect(await boundaryRules('src/api/routes/jobs.ts', prepare)).toEqual(['no-restricted-syntax']);
    expect(await boundaryRules('src/engine/steps/poll.ts', prepare)).toEqual(['no-restricted-syntax']);
    expect(await boundaryRules('adapters/slurm/parse.ts', prepare)).toEqual(['no-restricted-syntax']);
    expect(await boundaryRules('src/store/jobs.ts', prepare)).toEqual([]);

    const open = "import Database from 'better-sqlite3';\nexport const db = new Database(':memory:');\n";
    expect(await boundaryRules('src/ops/maintenance.ts', open)).toEqual(['no-restricted-imports']);
    expect(await boundaryRules('src/engine/loop.ts', open)).toEqual(['no-restricted-imports']);
    expect(await boundaryRules('src/auth/tokens.ts', open)).toEqual(['no-restricted-imports']);
    expect(await boundaryRules('src/store/store.ts', open)).toEqual([]);
    const lazy = "export const load = () => import('better-sqlite3');\n";
    expect(await boundaryRules('src/cli/main.ts', lazy)).toEqual(['no-restricted-syntax']);
    expect(await boundaryRules('src/engine/loop.ts', lazy)).toEqual(['no-restricted-syntax']);
    expect(await boundaryRules('src/store/store.ts', lazy)).toEqual([]);
  });

  it('examples use the SDK only', async () => {
    await blocked('examples/01-parameter.ts', '../src/engine/reconciler.js');
    await blocked('examples/01-parameter.ts', '../src/domain/jobSpec.js');
    await allowed('examples/01-parameter.ts', '../src/client/index.js');
    await allowed('examples/03-artifact.ts', 'node:fs');
  });
});
