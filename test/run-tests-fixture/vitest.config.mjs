import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// The cache outside the repository: this directory is run by the runner's own test, and a
// cache folder here would be one more thing to ignore.
export default defineConfig({ cacheDir: join(tmpdir(), 'hpcb-run-tests-fixture-cache'), test: { include: ['*.check.mjs'] } });
