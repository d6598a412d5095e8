/**
 * A local cluster that may run jobs as root says so in the daemon's log at every start, as a
 * warning naming the file and key (config check says the same: test/unit/ops/config-check.test.ts).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/logging.js';
import { buildSettings } from '../../src/settings/load.js';

describe('start-up warnings', () => {
  it('logs runJobsAsRoot as a warning with the cluster file and key', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-warn-'));
    const settings = buildSettings({ dataDir, listen: { host: '127.0.0.1', port: 0 } }, [
      { file: 'here.yaml', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch') } },
    ]);
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write(c: Buffer, _e, cb) {
          for (const l of c.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
          cb();
        },
      }),
    });
    const d = await startDaemon(settings, { logger });
    try {
      const warn = lines.find((l) => l.key === 'runJobsAsRoot');
      expect(warn).toMatchObject({ level: 40, file: 'here.yaml', msg: expect.stringMatching(/cluster "here" (runs jobs as root|sets runJobsAsRoot, which has no effect)/) });
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
