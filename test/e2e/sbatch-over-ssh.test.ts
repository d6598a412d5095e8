/**
 * The foundation proven end to end: a batch script goes up over SFTP, `sbatch` runs over the
 * SSH transport, the job is seen in `squeue`, and its final state and exit code come from
 * `sacct`. Raw commands only: no engine, no adapter.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createTransport } from '../../src/transport/index.js';
import { loadClusterEnv } from '../cluster/env.js';
import { until } from './support/lab.js';

const env = loadClusterEnv();
const t = createTransport({ kind: 'ssh', host: env.host, port: env.port, user: env.user, privateKeyPath: env.privateKey, knownHostsPath: env.knownHosts });
afterAll(() => t.close());

describe('sbatch over the SSH transport', () => {
  it('submits, sees the job in squeue, and reads FAILED 3:0 from sacct', async () => {
    const dir = `${env.scratchRoot}/foundation-${Date.now()}`;
    await t.mkdirp(dir);
    await t.writeFile(`${dir}/job.sh`, '#!/bin/bash\n#SBATCH --job-name=foundation\nsleep 2\necho done\nexit 3\n', { mode: 0o755 });

    const sub = await t.exec(['sbatch', '--parsable', '--chdir', dir, '--output', `${dir}/out.txt`, `${dir}/job.sh`]);
    expect(sub.exitCode, sub.stderr).toBe(0);
    const id = sub.stdout.trim().split(';')[0]!;
    expect(id).toMatch(/^\d+$/);

    const q = await t.exec(['squeue', '--noheader', '--user', env.user, '--states=all', '--format=%i|%j|%T']);
    expect(q.exitCode).toBe(0);
    expect(q.stdout.split('\n')).toContainEqual(expect.stringMatching(new RegExp(`^${id}\\|foundation\\|(PENDING|RUNNING|CONFIGURING|COMPLETING|FAILED)$`)));

    const final = await until('sacct final state', async () => {
      const r = await t.exec(['sacct', '--noheader', '--parsable2', '--allocations', '--jobs', id, '--format=State,ExitCode']);
      const line = r.stdout.trim();
      return /^(FAILED|COMPLETED|CANCELLED|TIMEOUT)/.test(line) ? line : undefined;
    }, 60_000, 500);
    expect(final).toBe('FAILED|3:0');
    const out = await t.readRange(`${dir}/out.txt`, 0, 100);
    expect(out?.toString()).toBe('done\n');
    await t.remove(dir, { recursive: true });
  });
});
