/**
 * Load, validate and freeze the configuration. Every problem in every file is collected and
 * reported together, each with its file and key, so an operator fixes them in one pass.
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { BridgeError } from '../domain/errors.js';
import { fieldName } from '../domain/jobSpec.js';
import { clusterAccount } from './identity.js';
import { permissionProblems } from './permissions.js';
import { ClusterSchema, credentialProblems, DaemonSchema, type ClusterConfig, type Settings } from './schema.js';

export interface ConfigProblem {
  file: string;
  key: string;
  message: string;
}

function readYaml(file: string, problems: ConfigProblem[]): unknown {
  try {
    return parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message : e instanceof Error ? e.message : String(e);
    problems.push({ file, key: '(file)', message: msg });
    return undefined;
  }
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

/** Validate already-parsed objects (tests and the embedded default use this directly). */
export function buildSettings(daemonRaw: unknown, clusterRaws: { file: string; raw: unknown }[], daemonFile = '(inline)'): Settings {
  const problems: ConfigProblem[] = [];
  const d = DaemonSchema.safeParse(daemonRaw ?? {});
  if (!d.success) for (const i of d.error.issues) problems.push({ file: daemonFile, key: issueKey(i), message: issueMessage(i) });
  const clusters: ClusterConfig[] = [];
  const sources: Record<string, string> = {};
  for (const { file, raw } of clusterRaws) {
    const c = ClusterSchema.safeParse(raw);
    if (!c.success) {
      for (const i of c.error.issues) problems.push({ file, key: issueKey(i), message: issueMessage(i) });
      continue;
    }
    if (sources[c.data.name]) {
      problems.push({ file, key: 'name', message: `cluster "${c.data.name}" is already defined in ${sources[c.data.name]}` });
      continue;
    }
    sources[c.data.name] = file;
    clusters.push(c.data);
  }
  if (d.success) {
    if (clusters.length === 0 && problems.length === 0) problems.push({ file: daemonFile, key: 'clustersDir', message: 'no cluster is configured' });
    const def = d.data.defaultCluster;
    if (def !== undefined && !clusters.some((c) => c.name === def) && !problems.some((p) => p.file !== daemonFile)) {
      problems.push({ file: daemonFile, key: 'defaultCluster', message: `names no configured cluster ("${def}")` });
    }
  }
  // Read from the raw object too when the daemon file has other problems, so a typo in a
  // user's cluster list is reported in the same run as the rest.
  if (!problems.some((p) => p.file !== daemonFile)) userPolicyProblems(daemonRaw, clusters, daemonFile, problems, new Map(Object.entries(sources)));
  if (problems.length > 0) throw configError(problems);
  const daemon = { ...d.data!, defaultCluster: d.data!.defaultCluster ?? clusters[0]!.name };
  return deepFreeze({ daemon, clusters, sources: { daemon: daemonFile, clusters: sources } });
}

/**
 * A user policy that names a cluster nobody configured is a typo that would otherwise surface
 * only when that user submits.
 */
function userPolicyProblems(daemonRaw: unknown, clusters: ClusterConfig[], daemonFile: string, problems: ConfigProblem[], clusterFiles: Map<string, string>): void {
  const users = (daemonRaw as { users?: unknown } | undefined)?.users;
  if (!users || typeof users !== 'object') return;
  const known = new Set(clusters.map((c) => c.name));
  const withIdentities = new Set<string>();
  for (const policy of Object.values(users as Record<string, unknown>)) {
    const ids = (policy as { identities?: unknown } | null)?.identities;
    if (ids && typeof ids === 'object') for (const name of Object.keys(ids)) withIdentities.add(name);
  }
  for (const c of clusters) {
    // Accounts share nothing on the cluster: each needs a tree of its own that only it can enter.
    if (withIdentities.has(c.name) && !c.scratchRoot.includes('{user}')) {
      const message = "must contain {user} (e.g. /scratch/{user}/hpc-bridge) on a cluster where users have identities: each account's job directories and artifact cache live under its own root";
      problems.push({ file: clusterFiles.get(c.name) ?? '(inline)', key: 'scratchRoot', message });
    }
  }
  for (const [user, policy] of Object.entries(users as Record<string, unknown>)) {
    if (!policy || typeof policy !== 'object') continue;
    const { clusters: allowed, accounts, identities } = policy as { clusters?: unknown; accounts?: unknown; identities?: unknown };
    const list = Array.isArray(allowed) ? allowed.filter((c): c is string => typeof c === 'string') : undefined;
    list?.forEach((c, i) => {
      if (!known.has(c)) problems.push({ file: daemonFile, key: `users.${user}.clusters.${i}`, message: `names no configured cluster ("${c}")` });
    });
    if (identities && typeof identities === 'object') identityProblems(user, identities as Record<string, unknown>, clusters, list, daemonFile, problems);
    if (!accounts || typeof accounts !== 'object') continue;
    for (const c of Object.keys(accounts)) {
      if (!known.has(c)) problems.push({ file: daemonFile, key: `users.${user}.accounts.${c}`, message: `names no configured cluster ("${c}")` });
      else if (list && !list.includes(c)) problems.push({ file: daemonFile, key: `users.${user}.accounts.${c}`, message: `the user may not use cluster "${c}" (not in users.${user}.clusters)` });
    }
  }
}

/** An identity names a configured cluster the user may use, with the credential its transport needs. */
function identityProblems(user: string, identities: Record<string, unknown>, clusters: ClusterConfig[], allowed: string[] | undefined, daemonFile: string, problems: ConfigProblem[]): void {
  for (const [name, id] of Object.entries(identities)) {
    const key = `users.${user}.identities.${name}`;
    const c = clusters.find((x) => x.name === name);
    if (!c) problems.push({ file: daemonFile, key, message: `names no configured cluster ("${name}")` });
    else if (allowed && !allowed.includes(name)) problems.push({ file: daemonFile, key, message: `the user may not use cluster "${name}" (not in users.${user}.clusters)` });
    else if (id && typeof id === 'object') {
      credentialProblems(id as Record<string, undefined>, c.transport, [], {
        addIssue: (i) => problems.push({ file: daemonFile, key: `${key}.${i.path.join('.')}`, message: i.message }),
      });
    }
  }
}

export interface LoadOptions {
  /**
   * Where permission warnings go (a group-readable key, a world-readable database). The
   * daemon's stderr by default, which journald keeps with its logs.
   */
  warn?: (message: string) => void;
}

/**
 * Load `<file>` and every `*.yaml`/`*.yml` in its clusters directory. Key, passphrase and TLS key
 * files anyone can read, and configuration anyone can change, are refused (INVALID_CONFIG);
 * lesser exposure is a warning (src/settings/permissions.ts).
 */
export function loadSettings(file: string, opts: LoadOptions = {}): Settings {
  const settings = loadSettingsUnchecked(file);
  const found = permissionProblems(settings);
  const refused = found.filter((p) => p.level === 'refuse');
  if (refused.length > 0) throw configError(refused.map(({ file: f, key, message }) => ({ file: f, key, message })));
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`hpc-bridge: warning: ${m}\n`));
  for (const p of [...found, ...sharedAccountWarnings(settings)]) warn(`${p.file}: ${p.key}: ${p.message}`);
  return settings;
}

/** A shared account puts every user without an identity under one Unix account: said at every start and by `config check`. */
export function sharedAccountWarnings(settings: Settings): ConfigProblem[] {
  return settings.clusters
    .filter((c) => c.sharedAccount)
    .map((c) => ({
      file: settings.sources.clusters[c.name] ?? '(inline)',
      key: 'sharedAccount',
      message: `users without an identity on cluster "${c.name}" all run as its account "${clusterAccount(c)}" and can read and change each other's files there; give each user an identity (users.<name>.identities.${c.name}) unless they trust each other`,
    }));
}

function loadSettingsUnchecked(file: string): Settings {
  const problems: ConfigProblem[] = [];
  const abs = resolve(file);
  const daemonRaw = readYaml(abs, problems);
  const dirName = (daemonRaw as { clustersDir?: unknown } | undefined)?.clustersDir;
  const clustersDir = resolve(dirname(abs), typeof dirName === 'string' ? dirName : 'clusters.d');
  const clusterRaws: { file: string; raw: unknown }[] = [];
  if (existsSync(clustersDir) && statSync(clustersDir).isDirectory()) {
    for (const f of readdirSync(clustersDir).sort()) {
      if (!/\.ya?ml$/.test(f) || f.includes('.example.')) continue;
      const p = join(clustersDir, f);
      const raw = readYaml(p, problems);
      if (raw !== undefined) clusterRaws.push({ file: p, raw: resolvePaths(raw, dirname(p)) });
    }
  }
  if (problems.length > 0) throw configError(problems);
  return buildSettings(resolveIdentityPaths(daemonRaw, dirname(abs)), clusterRaws, abs);
}

/** Key paths of users' identities in the daemon file are relative to that file. */
function resolveIdentityPaths(raw: unknown, base: string): unknown {
  const users = (raw as { users?: unknown } | undefined)?.users;
  if (!users || typeof users !== 'object') return raw;
  for (const policy of Object.values(users as Record<string, unknown>)) {
    const ids = (policy as { identities?: unknown } | null)?.identities;
    if (ids && typeof ids === 'object') for (const id of Object.values(ids as Record<string, unknown>)) fixKeyPaths(id, base);
  }
  return raw;
}

function fixKeyPaths(o: unknown, base: string): void {
  if (!o || typeof o !== 'object') return;
  const r = o as Record<string, unknown>;
  for (const k of ['privateKey', 'passphraseFile', 'knownHosts', 'certificate']) {
    if (typeof r[k] === 'string' && !isAbsolute(r[k] as string)) r[k] = resolve(base, r[k] as string);
  }
}

/** Relative key and known_hosts paths in a cluster file are relative to that file. */
function resolvePaths(raw: unknown, base: string): unknown {
  if (!raw || typeof raw !== 'object') return raw;
  const c = raw as Record<string, unknown>;
  fixKeyPaths(c.ssh, base);
  fixKeyPaths((c.ssh as { jump?: unknown } | undefined)?.jump, base);
  fixKeyPaths(c.monitor, base);
  return c;
}

function issueKey(i: { path: readonly PropertyKey[]; code: string; keys?: readonly string[] }): string {
  if (i.code === 'unrecognized_keys' && i.keys) return i.keys.map((k) => fieldName([...i.path, k])).join(', ');
  return fieldName(i.path);
}

function issueMessage(i: { code: string; message: string; input?: unknown }): string {
  if (i.code === 'unrecognized_keys') return 'unknown key';
  if (i.code === 'invalid_type' && i.input === undefined) return 'is required';
  return i.message;
}

export function configError(problems: ConfigProblem[]): BridgeError {
  const lines = problems.map((p) => `  ${p.file}: ${p.key}: ${p.message}`);
  return new BridgeError('INVALID_CONFIG', `configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${lines.join('\n')}`, {
    context: { problems },
  });
}
