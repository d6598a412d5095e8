/**
 * The annotated examples in config/ are what operators copy: they must stay valid against the
 * schema, and a broken configuration must be reported whole (every problem, file and key).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/domain/errors.js';
import { buildSettings, loadSettings } from '../../src/settings/load.js';
import { adapterFor } from '../../src/adapters.js';

const configDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'config');

describe('config examples', () => {
  it('every example validates against the schema', () => {
    const daemon = parse(readFileSync(join(configDir, 'hpc-bridge.example.yaml'), 'utf8'));
    const files = readdirSync(join(configDir, 'clusters.d')).filter((f) => f.endsWith('.example.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    const clusters = files.map((f) => ({ file: f, raw: parse(readFileSync(join(configDir, 'clusters.d', f), 'utf8')) }));
    const s = buildSettings(daemon, clusters, 'hpc-bridge.example.yaml');
    expect(s.clusters.map((c) => c.name).sort()).toEqual(['hpc1', 'hpc2', 'local']);
    expect(Object.isFrozen(s.clusters[0])).toBe(true);
    expect(s.daemon.users.alice).toEqual({ clusters: ['hpc1', 'local'], accounts: { hpc1: 'proj-climate-42' }, identities: { hpc1: { user: 'alice', privateKey: '/etc/hpc-bridge/keys/alice@hpc1' } } });
  });

  it('PBS array and dependency switches reach the adapter, and are refused on other schedulers', () => {
    const pbs = (extra: Record<string, unknown>) => buildSettings({}, [{ file: 't.yaml', raw: { name: 't', scheduler: 'pbs', flavor: 'torque', scratchRoot: '/s', ...extra } }]).clusters[0]!;
    expect(adapterFor(pbs({})).arrays).toBeUndefined();
    expect(adapterFor(pbs({ nativeArrays: true, nativeDependencies: true })).arrays).toBeDefined();
    expect(adapterFor(pbs({ nativeArrays: true, nativeDependencies: true })).nativeDependencies).toBe(true);
    expect(() => buildSettings({}, [{ file: 's.yaml', raw: { name: 's', scheduler: 'slurm', scratchRoot: '/s', nativeArrays: false } }])).toThrow(/nativeArrays: only applies to scheduler pbs/);
  });

  it('a configuration with five mistakes reports all five, each with its file and key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcb-config-'));
    mkdirSync(join(dir, 'clusters.d'));
    writeFileSync(join(dir, 'hpc-bridge.yaml'), 'listen: { port: 99999 }\nlogLevel: chatty\n');
    writeFileSync(join(dir, 'clusters.d', 'a.yaml'), 'name: a\nscheduler: pbs\nscratchRoot: relative/path\ncolour: blue\n');
    copyFileSync(join(configDir, 'clusters.d', 'local.example.yaml'), join(dir, 'clusters.d', 'b.example.yaml'));
    try {
      loadSettings(join(dir, 'hpc-bridge.yaml'));
      throw new Error('expected INVALID_CONFIG');
    } catch (e) {
      expect(e).toBeInstanceOf(BridgeError);
      const problems = (e as BridgeError).context.problems as { file: string; key: string; message: string }[];
      const got = problems.map((p) => `${p.file.replace(dir + '/', '')}: ${p.key}`).sort();
      expect(got).toEqual([
        'clusters.d/a.yaml: colour',
        'clusters.d/a.yaml: flavor',
        'clusters.d/a.yaml: scratchRoot',
        'hpc-bridge.yaml: listen.port',
        'hpc-bridge.yaml: logLevel',
      ]);
      expect((e as BridgeError).message).toMatch(/configuration has 5 problems/);
    }
  });
});
