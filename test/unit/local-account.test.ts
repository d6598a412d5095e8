/**
 * Which Unix account a job runs as on a local (`direct`) cluster, and every refusal: the rules of
 * src/settings/localAccount.ts with the machine's accounts given, so they hold without root.
 */
import { describe, expect, it } from 'vitest';
import { embeddedDefaultSettings } from '../../src/settings/defaults.js';
import { buildSettings } from '../../src/settings/load.js';
import { localAccountFor, localAccountProblems, runAsRootWarning, type HostAccounts } from '../../src/settings/localAccount.js';

const UIDS: Record<string, number> = { root: 0, alice: 1001, 'hpcb-alice': 999, carol: 1003, toor: 0 };
const host = (root: boolean, self = root ? 'root' : 'alice'): HostAccounts => ({ root, self, uidOf: (n) => UIDS[n] });

function settings(cluster: Record<string, unknown> = {}, users: Record<string, unknown> = {}) {
  return buildSettings({ users }, [{ file: 'here.yaml', raw: { name: 'here', scheduler: 'direct', scratchRoot: '/srv/s/{user}', ...cluster } }]);
}
const of = (s: ReturnType<typeof settings>, owner: string, h: HostAccounts) => localAccountFor(s.daemon, s.clusters[0]!, owner, h);

describe('a daemon running as root', () => {
  it("runs a user's job as the account of their identity", () => {
    const s = settings({}, { alice: { identities: { here: { user: 'hpcb-alice' } } } });
    expect(of(s, 'alice', host(true))).toEqual({ user: 'hpcb-alice' });
  });
  it('refuses a user without an identity, naming the cluster and the user', () => {
    const r = of(settings(), 'bob', host(true));
    expect(r).toEqual({ refusal: expect.stringMatching(/user "bob" has no identity on cluster "here" \(an operator maps the user to a Unix account there: users\.bob\.identities\.here/) });
  });
  it('never runs a job as root by accident: a shared account that is root, or an identity mapped to root, is refused', () => {
    expect(of(settings({ sharedAccount: true }), 'bob', host(true))).toEqual({ refusal: expect.stringMatching(/cluster "here" would run user "bob"'s job as root.*runJobsAsRoot: true/) });
    const toRoot = settings({}, { carol: { identities: { here: { user: 'toor' } } } });
    expect(of(toRoot, 'carol', host(true))).toEqual({ refusal: expect.stringMatching(/as root \("toor"\)/) });
    expect(localAccountProblems(toRoot.daemon, toRoot.clusters[0]!, host(true))).toEqual([{ key: 'users.carol.identities.here.user', message: expect.stringMatching(/maps to root/) }]);
  });
  it('runs as root only where the cluster says runJobsAsRoot, and says so loudly', () => {
    const s = settings({ sharedAccount: true, runJobsAsRoot: true });
    expect(of(s, 'bob', host(true))).toEqual({ user: 'root' });
    expect(runAsRootWarning(s.clusters[0]!, host(true))).toMatch(/cluster "here" runs jobs as root/);
    expect(runAsRootWarning(settings().clusters[0]!, host(true))).toBeUndefined();
  });
  it('sameNameAccounts (the embedded default as root): the account named like the user, if it exists and is not root', () => {
    const s = settings({ sameNameAccounts: true });
    expect(of(s, 'carol', host(true))).toEqual({ user: 'carol' });
    expect(of(s, 'nobody-here', host(true))).toEqual({ refusal: expect.stringMatching(/no Unix account "nobody-here" either/) });
    expect(of(s, 'root', host(true))).toEqual({ refusal: expect.stringMatching(/as root/) });
  });
  it('an identity naming an account this machine does not have is refused and is a config problem', () => {
    const s = settings({}, { dave: { identities: { here: { user: 'ghost' } } } });
    expect(of(s, 'dave', host(true))).toEqual({ refusal: expect.stringMatching(/Unix account "ghost" on cluster "here", which does not exist/) });
    expect(localAccountProblems(s.daemon, s.clusters[0]!, host(true))[0]!.message).toMatch(/no Unix account "ghost"/);
  });
});

describe('a daemon running as an ordinary user (personal mode)', () => {
  it("runs every allowed job as the daemon's own account", () => {
    expect(of(settings({ sharedAccount: true }), 'alice', host(false))).toEqual({ user: 'alice' });
    expect(of(settings({}, { alice: { identities: { here: { user: 'alice' } } } }), 'alice', host(false))).toEqual({ user: 'alice' });
  });
  it('cannot switch user: a mapping to another account is refused and is a config problem', () => {
    const s = settings({}, { alice: { identities: { here: { user: 'hpcb-alice' } } } });
    expect(of(s, 'alice', host(false))).toEqual({ refusal: expect.stringMatching(/daemon runs as "alice" and cannot switch accounts/) });
    expect(localAccountProblems(s.daemon, s.clusters[0]!, host(false))).toEqual([{ key: 'users.alice.identities.here.user', message: expect.stringMatching(/cannot run jobs as "hpcb-alice"/) }]);
  });
  it('still refuses users without an identity where the cluster shares no account', () => {
    expect(of(settings(), 'bob', host(false))).toEqual({ refusal: expect.stringMatching(/no identity on cluster "here"/) });
  });
});

describe('the embedded default', () => {
  it('as root maps users to same-name accounts with a scratch directory each; otherwise runs as the daemon user', () => {
    const asRoot = embeddedDefaultSettings('/var/lib/hpc-bridge', true).clusters[0]!;
    expect(asRoot).toMatchObject({ sameNameAccounts: true, sharedAccount: false, runJobsAsRoot: false, scratchRoot: '/var/lib/hpc-bridge.scratch/{user}' });
    const personal = embeddedDefaultSettings('/home/alice/.local/share/hpc-bridge', false).clusters[0]!;
    expect(personal).toMatchObject({ sharedAccount: true, sameNameAccounts: false, scratchRoot: '/home/alice/.local/share/hpc-bridge/scratch' });
  });
});

describe('the cluster keys', () => {
  it('runJobsAsRoot and sameNameAccounts apply to local clusters only', () => {
    expect(() =>
      buildSettings({}, [{ file: 'x.yaml', raw: { name: 'x', scheduler: 'slurm', transport: 'ssh', ssh: { host: 'h', user: 'u', privateKey: '/k', knownHosts: '/kh' }, scratchRoot: '/s', runJobsAsRoot: true } }]),
    ).toThrow(/runJobsAsRoot: only applies to clusters with transport local/);
  });
});
