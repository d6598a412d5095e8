/**
 * Shutdown runs every clean-up even when one fails, logs each failure with the step it came
 * from, and ends with a non-zero status so the service manager sees an unclean stop.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCleanups, runDaemon, SHUTDOWN_FAILED_EXIT } from '../../src/daemon.js';
import { createLogger } from '../../src/logging.js';
import { buildSettings } from '../../src/settings/load.js';

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    }),
  });
  return { logger, lines };
}

describe('shutdown', () => {
  it('a rejecting clean-up does not stop the ones after it, and each failure is logged with its step', async () => {
    const { logger, lines } = capturingLogger();
    const ran: string[] = [];
    const failures = await runCleanups(
      [
        { name: 'close the API server', run: async () => void ran.push('server') },
        { name: 'stop maintenance', run: async () => { ran.push('maintenance'); throw new Error('backup still writing'); } },
        { name: 'flush metrics', run: () => { ran.push('metrics'); throw new Error('synchronous failure'); } },
        { name: 'close the bridge', run: async () => void ran.push('bridge') },
      ],
      logger,
    );
    expect(ran).toEqual(['server', 'maintenance', 'metrics', 'bridge']);
    expect(failures.map((f) => f.name)).toEqual(['stop maintenance', 'flush metrics']);
    const logged = lines.filter((l) => l.msg === 'shutdown step failed; continuing with the next');
    expect(logged.map((l) => [l.step, l.err])).toEqual([
      ['stop maintenance', 'backup still writing'],
      ['flush metrics', 'synchronous failure'],
    ]);
  });

  it('the daemon stops on SIGTERM: a clean stop exits 0, a failed clean-up exits non-zero', async () => {
    for (const failBridgeClose of [false, true]) {
      const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-daemon-'));
      const settings = buildSettings({ dataDir, listen: { host: '127.0.0.1', port: 0 } }, [
        { file: '(test)', raw: { name: 'here', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch') } },
      ]);
      const { logger, lines } = capturingLogger();
      let exited: ((code: number) => void) | undefined;
      const exitCode = new Promise<number>((resolve) => (exited = resolve));
      const daemon = await runDaemon(settings, (code) => exited!(code), { logger });
      expect((await fetch(`${daemon.url}/api/v1/healthz`)).status).toBe(200);
      if (failBridgeClose) {
        const close = daemon.bridge.close.bind(daemon.bridge);
        daemon.bridge.close = async () => {
          await close();
          throw new Error('database would not close');
        };
      }
      process.emit('SIGTERM');
      expect(await exitCode).toBe(failBridgeClose ? SHUTDOWN_FAILED_EXIT : 0);
      // The server closed before the failing step, whatever that step did.
      await expect(fetch(`${daemon.url}/api/v1/healthz`)).rejects.toThrow();
      expect(lines.some((l) => l.msg === 'stopping: jobs on the clusters keep running and resume at the next start' && l.signal === 'SIGTERM')).toBe(true);
      const failed = lines.filter((l) => l.msg === 'shutdown step failed; continuing with the next');
      expect(failed.map((l) => l.step)).toEqual(failBridgeClose ? ['close the bridge (engine, SSH, database)'] : []);
    }
  });
});
