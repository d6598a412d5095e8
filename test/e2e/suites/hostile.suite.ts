/**
 * The cluster half of the injection tests (the API half is test/security/injection.test.ts):
 * hostile strings in every field that reaches a real scheduler over SSH (the submit program, the
 * batch script and its runner, the stage-in and stage-out programs, a native job array for
 * workflow parameters). Each is refused by field or arrives literally; a canary directory on
 * the cluster's scratch, which every payload would write into, stays empty. One definition, run
 * on Slurm (test/e2e/hostile-input.test.ts) and on the real OpenPBS server
 * (test/e2e/openpbs-hostile-input.test.ts), where the same strings meet `#PBS` directives, a
 * `qsub -J` array and PBS's own environment.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../../src/bridge.js';
import { BridgeError } from '../../../src/domain/errors.js';
import type { JobRecord } from '../../../src/store/store.js';
import { hostilePayloads, type Payload } from '../../security/hostile.js';
import { labSettings, onLogin, type LabOptions } from '../support/lab.js';

/** @param where how the describe block names the scheduler ("on Slurm over SSH", ...) */
export function defineHostileSuite(where: string, labOptions: LabOptions): void {
  let bridge: Bridge;
  let lab: ReturnType<typeof labSettings>;
  let canary: string;
  let payloads: Payload[];
  let envOnly: Payload[];

  beforeAll(async () => {
    lab = labSettings({ pollIntervalSeconds: 1, ...labOptions });
    canary = `${lab.scratchRoot}/canary`;
    await onLogin(lab.env, `mkdir -p ${canary}`);
    // Printable payloads only: NUL and lone surrogates never get past validation (unit tests).
    // Line breaks and tabs are refused in names and paths (unit tests) but are data in environment values: envOnly.
    const all = hostilePayloads(canary).filter((p) => !['nul', 'lone-surrogate'].includes(p.id));
    envOnly = all.filter((p) => ['newline', 'crlf', 'tab-format'].includes(p.id));
    payloads = all.filter((p) => !envOnly.includes(p));
    bridge = Bridge.open(lab.settings);
    bridge.start();
  });
  afterAll(async () => {
    await bridge?.close();
    await onLogin(lab.env, `rm -rf ${lab.scratchRoot}`).catch(() => undefined);
    rmSync(lab.dataDir, { recursive: true, force: true });
  });

  const canaryFiles = async () => (await onLogin(lab.env, `ls -A ${canary}`)).split('\n').filter(Boolean);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const text = async (id: number, which: 'stdout' | 'stderr') => (await bridge.staging.readLog(id, 'alice', which, { offset: 0, maxBytes: 1 << 20 })).data.toString();

  function refusedField(def: unknown): string | undefined {
    try {
      bridge.submit('alice', def);
    } catch (e) {
      if (e instanceof BridgeError && e.code === 'INVALID_DEFINITION') return String(e.context.field);
      throw e;
    }
    return undefined;
  }

  describe(`hostile input ${where}`, () => {
    it('scheduler words and names with shell syntax are refused by field before anything reaches the cluster', () => {
      for (const p of payloads) {
        for (const field of ['name', 'queue', 'account', 'qos', 'reservation', 'cluster'] as const) {
          expect({ p: p.id, field: refusedField({ [field]: p.value, tasks: [{ cmd: 'true' }] }) }).toEqual({ p: p.id, field });
        }
      }
      expect(bridge.list({ scope: 'all' })).toHaveLength(0);
    });

    it('values, file names, outputs and working directories arrive literally; nothing runs', async () => {
      const jobs: { p: Payload; id: number }[] = [];
      for (const p of payloads) {
        const v = p.value;
        const { job } = bridge.submit('alice', {
          name: `hostile-${p.id}`,
          labels: { k: v },
          tasks: [
            {
              cmd: 'printf "%s" "$HV" && cat -- "$HF" >&2 && mkdir -p -- "$(dirname -- "$HO")" && printf out > "$HO" && mkdir -p -- "$HD" && printf in > "$HD/inside"',
              env: { HV: v, HF: `i/${v}`, HO: `o/${v}`, HD: `d/${v}` },
            },
            { cmd: 'test -f keep', workdir: `w/${v}` },
          ],
          inputs: [
            { filename: `i/${v}`, content: b64(`content of ${p.id}`) },
            { filename: `w/${v}/keep`, content: b64('k') },
          ],
          outputFiles: [`o/${v}`],
          outputDirs: [`d/${v}`],
          resources: { walltime: 5 },
        });
        jobs.push({ p, id: job.id });
      }
      const envJobs: { p: Payload; id: number }[] = [];
      for (const p of envOnly) envJobs.push({ p, id: bridge.submit('alice', { name: `hostile-env-${p.id}`, tasks: [{ cmd: 'printf "%s" "$HV"', env: { HV: p.value } }], resources: { walltime: 5 } }).job.id });
      for (const { p, id } of envJobs) {
        const j = await bridge.wait(id, 240_000);
        expect({ p: p.id, status: j.status, err: await text(id, 'stderr') }, `job ${id}: ${j.statusReason}`).toEqual({ p: p.id, status: 'completed', err: '' });
        expect({ p: p.id, out: await text(id, 'stdout') }).toEqual({ p: p.id, out: p.value });
      }
      const done: JobRecord[] = [];
      for (const { id } of jobs) done.push(await bridge.wait(id, 240_000));
      for (const [i, { p, id }] of jobs.entries()) {
        const j = done[i]!;
        expect({ p: p.id, status: j.status, reason: j.statusReason }).toMatchObject({ p: p.id, status: 'completed' });
        expect(j.labels).toEqual({ k: p.value });
        expect(await text(id, 'stdout')).toBe(p.value);
        expect(await text(id, 'stderr')).toBe(`content of ${p.id}`);
        const names = bridge.staging.listOutputs(id, 'alice').outputs.map((o) => o.name);
        expect(names).toContain(`o/${p.value}`);
        expect(names.some((n) => n.startsWith(`d/${p.value}`))).toBe(true);
      }
      expect(await canaryFiles()).toEqual([]);
    }, 600_000);

    it('workflow zip values reach every element of a native array literally', async () => {
      const wf = bridge.submitWorkflow('alice', {
        name: 'hostile-zip',
        jobs: [{ name: 'z', tasks: [{ cmd: 'printf "%s" "$f"; printf "%s" ${f} >&2' }], resources: { walltime: 5 } }],
        factories: [{ type: 'zip', jobs: ['z'], parameters: [{ name: 'f', values: payloads.map((p) => p.value) }] }],
      });
      const end = await bridge.waitWorkflow(wf.id, 300_000, 'alice');
      expect(end.status).toBe('completed');
      for (const [i, p] of payloads.entries()) {
        const inst = end.jobs.find((j) => j.index === i)!;
        expect({ p: p.id, out: await text(inst.id, 'stdout') }).toEqual({ p: p.id, out: p.value });
      }
      expect(await canaryFiles()).toEqual([]);
    }, 600_000);
  });
}
