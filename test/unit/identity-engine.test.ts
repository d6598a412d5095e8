/**
 * Identities in the engine, without a cluster: a user with no identity on a cluster is refused
 * naming the cluster (no fallback), a job records the Unix account it runs as, and the
 * transport pool opens one transport per identity on demand and closes idle ones.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildSettings } from '../../src/settings/load.js';
import { TransportPool } from '../../src/transport/pool.js';
import type { Transport } from '../../src/transport/transport.js';
import { call, startDaemon, type Daemon } from '../api/helpers.js';

let d: Daemon | undefined;
afterEach(async () => {
  await d?.close();
  d = undefined;
});

const me = userInfo().username;

describe('identities at submission', () => {
  it('refuses a user without an identity on the cluster, naming the cluster; a mapped user runs as their account', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-ids-'));
    const settings = buildSettings({ dataDir, logLevel: 'silent', users: { alice: { identities: { here: { user: me } } } } }, [
      { file: 'here.yaml', raw: { name: 'here', scheduler: 'direct', scratchRoot: join(dataDir, '{user}', 'scratch'), pollIntervalSeconds: 0.2, runJobsAsRoot: true } },
    ]);
    d = await startDaemon({ settings });

    const refused = await call(d, 'POST', '/jobs', { token: d.tokens.bob, body: { tasks: [{ cmd: 'true' }] } });
    expect(refused.status).toBe(400);
    expect(refused.json.error.field).toBe('cluster');
    expect(refused.json.error.message).toBe(
      'invalid job definition: cluster: user "bob" has no identity on cluster "here" (an operator maps the user to a Unix account there: users.bob.identities.here in the daemon configuration)',
    );
    const wf = await call(d, 'POST', '/workflows', { token: d.tokens.bob, body: { jobs: [{ name: 'a', tasks: [{ cmd: 'true' }] }] } });
    expect(wf.status).toBe(400);
    expect(wf.json.error.message).toContain('jobs[0].cluster: user "bob" has no identity on cluster "here"');
    expect((await call(d, 'GET', '/jobs?all=true', { token: d.tokens.bob })).json.jobs).toEqual([]);

    const job = await d.alice.createJob({ tasks: [{ cmd: 'echo hi' }] });
    expect((await d.alice.getJob(job.id)).clusterUser).toBe(me);
    expect((await d.alice.waitJob(job.id, 25)).status).toBe('completed');
    // The job directory lives under the account's own scratch root.
    expect(d.bridge.reconciler('here')!.rt.forAccount!(me).scratchRoot).toBe(join(dataDir, me, 'scratch'));
  });
});

describe('status polls with identities', () => {
  /** A cluster of `users` simulated identities whose transports record each command as `<account>: <argv>`. */
  async function pollRound(users: number, monitor: boolean): Promise<string[]> {
    const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-ids-poll-'));
    const accounts = Array.from({ length: users }, (_, i) => `acct${i}`);
    const settings = buildSettings(
      { dataDir, logLevel: 'silent', users: Object.fromEntries(accounts.map((a) => [`u-${a}`, { identities: { sim: { user: a, agent: true } } }])) },
      [{ file: 'sim.yaml', raw: { name: 'sim', scheduler: 'slurm', transport: 'ssh', ssh: { host: 'h', user: 'svc', agent: true, knownHosts: '/dev/null' }, scratchRoot: '/s/{user}', pollIntervalSeconds: 0.2, ...(monitor ? { monitor: { user: 'mon', agent: true } } : {}) } }],
    );
    const seen: string[] = [];
    const transportFor = (_c: unknown, account: string) =>
      ({ id: account, exec: async (argv: readonly string[]) => (seen.push(`${account}: ${argv.join(' ')}`), { exitCode: 0, signal: null, stdout: '', stderr: '', durationMs: 0 }), close: async () => undefined }) as unknown as Transport;
    const { Bridge } = await import('../../src/bridge.js');
    const bridge = Bridge.open(settings, { transportFor });
    try {
      // Queued jobs, two per account, that a poll with no answer for them does not move (submitted later than it started).
      for (const a of accounts) {
        for (let i = 0; i < 2; i++) {
          const { job } = bridge.submit(`u-${a}`, { tasks: [{ cmd: 'true' }] });
          for (const to of ['staging_in', 'submitting', 'queued'] as const) bridge.store.transition(job.id, [bridge.store.get(job.id)!.state], to, to === 'queued' ? { nativeId: String(1000 + job.id), submittedAt: Date.now() + 3600_000 } : {});
        }
      }
      await bridge.reconciler('sim')!.tick();
      return seen;
    } finally {
      await bridge.close();
    }
  }

  it('one status command per identity with jobs in the queue, each as that account for its own jobs', async () => {
    const seen = await pollRound(3, false);
    expect(seen.filter((l) => l.includes('squeue'))).toEqual(['acct0', 'acct1', 'acct2'].map((a) => expect.stringMatching(new RegExp(`^${a}: squeue .*--user=${a} `))));
    expect(seen).toHaveLength(3);
  });

  it('one status command for all users as the monitor identity, listing every user', async () => {
    const seen = await pollRound(5, true);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^mon: squeue /);
    expect(seen[0]).not.toContain('--user');
  });
});

describe('transport pool', () => {
  function fake(log: string[]): (key: string) => Transport {
    return (key) => {
      log.push(`open ${key}`);
      const t = {
        id: key,
        exec: async () => ({ exitCode: 0, signal: null, stdout: key, stderr: '', durationMs: 0 }),
        close: async () => void log.push(`close ${key}`),
      };
      return t as unknown as Transport;
    };
  }
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setTimeout(r, 10));
  };

  it('opens one transport per identity on demand, reuses it while in use and closes it when idle', async () => {
    const log: string[] = [];
    const pool = new TransportPool(fake(log), 50);
    expect(pool.stats()).toEqual({ identities: 0, open: 0, opened: 0, idleClosed: 0 });
    const a = pool.get('alice');
    expect(pool.get('alice')).toBe(a);
    expect(log).toEqual([]); // nothing opened before the first command
    await Promise.all([a.exec(['x']), a.exec(['y']), pool.get('bob').exec(['z'])]);
    expect(log).toEqual(['open alice', 'open bob']);
    expect(pool.stats()).toMatchObject({ identities: 2, open: 2, opened: 2 });

    await until(() => pool.stats().open === 0);
    expect(pool.stats()).toEqual({ identities: 2, open: 0, opened: 2, idleClosed: 2 });
    expect(log.filter((l) => l.startsWith('close')).sort()).toEqual(['close alice', 'close bob']);

    // The next command opens it again.
    expect((await a.exec(['again'])).stdout).toBe('alice');
    expect(pool.stats()).toMatchObject({ open: 1, opened: 3 });
    await pool.close();
    expect(pool.stats().open).toBe(0);
  });
});
