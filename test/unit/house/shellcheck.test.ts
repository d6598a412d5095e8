/**
 * Every piece of bash the bridge runs is checked by shellcheck: the shell files in the tree (the
 * remote programs, the test cluster's scripts) and the text the adapters generate: batch scripts
 * for representative jobs and the `bash -c` / `sh -c` programs of their commands. shellcheck is
 * installed by test/cluster/up.sh; a missing binary fails these tests, in CI and outside.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { SchedulerAdapter, ScriptContext } from '../../../src/domain/adapter.js';
import { parseJobSpec, type JobSpecInput } from '../../../src/domain/jobSpec.js';
import { MPI_TASK_TYPES } from '../../../src/domain/jobSpec.js';
import { createSlurmAdapter, SLURM_LAUNCHERS } from '../../../adapters/slurm/index.js';
import { createPbsAdapter } from '../../../adapters/pbs/index.js';
import { PBS_LAUNCHERS } from '../../../adapters/pbs/render.js';
import { directAdapter } from '../../../adapters/direct/index.js';
import type { MpiTaskType } from '../../../adapters/common/resources.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const SHELL_DIRS = ['src', 'adapters', 'test/cluster', 'bench'];
/** Shell scripts without the .sh suffix. */
const SHELL_SCRIPTS = ['.ci/run'];

const work = mkdtempSync(join(tmpdir(), 'hpcb-shellcheck-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs shellcheck on `files`; returns its findings, one per line ('' when clean). */
function shellcheck(files: string[], args: string[] = []): string {
  // -x with SCRIPTDIR: a script's `source "$HERE/lib.sh"` is followed and checked with it.
  const r = spawnSync('shellcheck', ['-f', 'gcc', '-x', '-P', 'SCRIPTDIR', ...args, ...files], { cwd: ROOT, encoding: 'utf8' });
  if (r.error) {
    throw new Error(`shellcheck could not run (${r.error.message}); it is installed by \`bash test/cluster/up.sh\` (Debian package shellcheck)`);
  }
  const findings = `${r.stdout}${r.stderr}`.trim();
  // Exit status 1 means findings; anything else is shellcheck itself failing.
  if (r.status !== 0 && !(r.status === 1 && findings)) throw new Error(`shellcheck exited with ${r.status}: ${findings}`);
  return findings;
}

function shellFiles(dir: string): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(join(ROOT, dir), { withFileTypes: true });
  } catch {
    return out; // a folder that does not exist has no scripts
  }
  for (const e of entries) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.')) out.push(...shellFiles(rel));
    else if (e.isFile() && e.name.endsWith('.sh')) out.push(rel);
  }
  return out;
}

// Values a user may put in env vars, names and commands, chosen to break careless quoting.
const HOSTILE: Record<string, string> = {
  DOLLAR: '$(touch /tmp/hpcb-pwned) ${HOME} `id`',
  QUOTES: `it's "double" and 'single'`,
  NEWLINE: 'line one\nline two; rm -rf /',
  GLOB: '* ? [a-z] ~ {a,b}',
  EMPTY: '',
  BACKSLASH: 'a\\b\\\\c\\',
};

interface Case {
  name: string;
  input: JobSpecInput;
  ctx?: Partial<ScriptContext>;
  /** Which adapters can run this job (default all). */
  on?: (a: Target) => boolean;
}

interface Target {
  name: string;
  adapter: SchedulerAdapter;
  multiNode: boolean;
  srun: boolean;
}

const TARGETS: Target[] = [
  { name: 'slurm', adapter: createSlurmAdapter(), multiNode: true, srun: true },
  { name: 'pbspro', adapter: createPbsAdapter({ flavor: 'pbspro' }), multiNode: true, srun: false },
  { name: 'torque', adapter: createPbsAdapter({ flavor: 'torque' }), multiNode: true, srun: true },
  { name: 'torque-arrays', adapter: createPbsAdapter({ flavor: 'torque', nativeArrays: true, nativeDependencies: true }), multiNode: true, srun: true },
  { name: 'direct', adapter: directAdapter, multiNode: false, srun: false },
];

const CASES: Case[] = [
  { name: 'plain', input: { tasks: [{ cmd: 'echo hello' }] } },
  {
    name: 'hostile-values',
    input: {
      name: 'odd name/with spaces',
      labels: { owner: HOSTILE.QUOTES! },
      tasks: [{ cmd: 'printf "%s\\n" "$DOLLAR" "$QUOTES"; exit 3', env: HOSTILE, workdir: 'sub dir/it has spaces' }, { cmd: HOSTILE.DOLLAR! }],
    },
    ctx: { env: HOSTILE },
  },
  {
    name: 'policies',
    input: {
      tasks: [{ cmd: 'false' }, { cmd: 'true' }],
      resources: { cpus: 2, memoryPerCpu: 0.5, walltime: 90 },
      policies: { maximumTaskRetries: 2, ignoreTaskFailures: true },
      queue: 'short',
      account: 'proj1',
    },
    ctx: { defaults: { queue: 'batch', account: 'acct', qos: 'normal' }, walltimeSeconds: 5400 },
  },
  { name: 'sidecars', input: { tasks: [{ type: 'sidecar', cmd: 'sleep 600' }, { cmd: 'echo main' }, { type: 'sidecar', cmd: 'tail -f /dev/null' }] } },
  {
    name: 'containers',
    input: {
      tasks: [
        { cmd: 'ls -l', image: 'docker://alpine:3.19' },
        { cmd: 'cat "$HOME/x"', image: '/images/tool image.sif', runtime: 'singularity', workdir: 'w' },
      ],
      artifacts: [{ url: 'refdata', mountpoint: 'ref:/data' }],
    },
  },
  {
    // Rootless podman: the runner's podman functions, a sidecar and a task in a workdir, with
    // values chosen to break careless quoting in the environment carried into the container.
    name: 'podman',
    input: {
      tasks: [
        { cmd: 'sleep 600', image: 'localhost/side:1', runtime: 'podman', type: 'sidecar' },
        { cmd: 'printf "%s\\n" "$DOLLAR"; ls -l', image: 'registry.example:5000/tools/solver:2.1', runtime: 'podman', env: HOSTILE, workdir: 'sub dir' },
        { cmd: 'echo plain' },
      ],
      artifacts: [{ url: 'refdata', mountpoint: 'ref:/data' }],
    },
    ctx: { env: { ALPHA: '0.5' } },
  },
  {
    name: 'mpi-multi-node',
    input: {
      tasks: [
        { cmd: 'hostname', type: 'openmpi', procsPerNode: 2 },
        { cmd: './solver --in "a b"', type: 'mpich' },
        { cmd: 'env', type: 'intelmpi' },
      ],
      resources: { nodes: 2, cpus: 4, memory: 3 },
    },
    on: (t) => t.multiNode,
  },
  { name: 'mpi-one-node', input: { tasks: [{ cmd: 'hostname', type: 'openmpi' }], resources: { cpus: 4 } } },
  { name: 'srun', input: { tasks: [{ cmd: 'hostname -s', type: 'srun' }], resources: { nodes: 2, cpus: 2 } }, on: (t) => t.srun },
  {
    name: 'array',
    input: { tasks: [{ cmd: 'echo "element $HPCB_ARRAY_INDEX of $HPCB_ARRAY_SIZE"' }] },
    ctx: { array: { size: 8, parallel: 3 }, afterOk: ['4242'], env: { ALPHA: '0.5', MODE: 'a b' } },
    on: (t) => t.adapter.arrays !== undefined,
  },
  {
    name: 'inputs-and-outputs',
    input: {
      tasks: [{ cmd: './run.sh "data/in put.txt" > out/result.txt' }],
      inputs: [
        { filename: 'run.sh', content: Buffer.from('#!/bin/sh\ncat "$1"\n').toString('base64'), executable: true },
        { filename: 'data/in put.txt', content: Buffer.from('hello').toString('base64') },
      ],
      outputFiles: ['out/*.txt'],
      outputDirs: ['logs'],
    },
  },
];

const BASE_CTX: ScriptContext = { jobDir: '/scratch/alice/hpcb/c1/job-17', tag: 'hb00a1b2-17-1', eventLog: '/scratch/alice/hpcb/events.log', bridgeJobId: 17, attempt: 1, defaults: {} };

/**
 * Codes left out for generated text only, each on purpose:
 *  - SC2016: user values and `bash -c` programs are single-quoted so that they reach the shell
 *    literally (src/domain/quote.ts); `$` inside them must not expand.
 *  - SC1003: a quoted value that ends in a backslash (`'a\'`) is exactly what the quoting must
 *    produce; shellcheck takes it for a failed attempt to escape the quote.
 *  - SC2043: the runner loops over the definition's main tasks; one task makes a one-item loop.
 *  - SC2317: the runner calls each task function by name ("hpcb_task_$i"), which shellcheck
 *    cannot follow, so it would report every task body as unreachable.
 */
const GENERATED_EXCLUDES = ['-e', 'SC1003,SC2016,SC2043,SC2317'];

describe('shellcheck', () => {
  it('passes every shell file in the tree', { timeout: 120_000 }, () => {
    const files = [...SHELL_DIRS.flatMap(shellFiles), ...SHELL_SCRIPTS];
    expect(files).toContain('test/cluster/up.sh');
    expect(shellcheck(['-s', 'bash', ...files])).toBe('');
  });

  it('passes the batch scripts the adapters render for representative jobs', { timeout: 120_000 }, () => {
    const files: string[] = [];
    for (const t of TARGETS) {
      for (const c of CASES) {
        if (c.on && !c.on(t)) continue;
        const ctx: ScriptContext = { ...BASE_CTX, ...c.ctx };
        const file = join(work, `${t.name}-${c.name}.sh`);
        writeFileSync(file, t.adapter.renderScript(parseJobSpec(c.input), ctx));
        files.push(file);
      }
    }
    const names = files.map((f) => f.slice(work.length + 1));
    // Each scheduler's array and MPI forms are among them (a case filter that matched nothing would hide them).
    expect(names).toEqual(
      expect.arrayContaining(['slurm-array.sh', 'pbspro-array.sh', 'torque-arrays-array.sh', 'slurm-srun.sh', 'pbspro-mpi-multi-node.sh', 'direct-sidecars.sh', 'slurm-podman.sh', 'pbspro-podman.sh']),
    );
    expect(names.length).toBeGreaterThanOrEqual(TARGETS.length * 7);
    const findings = shellcheck(['-s', 'bash', ...GENERATED_EXCLUDES, ...files]);
    expect(findings.split(`${work}/`).join('')).toBe('');
  });

  it("passes the adapters' bash -c and sh -c programs (commands and MPI launchers)", { timeout: 120_000 }, () => {
    const programs: { name: string; shell: string; text: string }[] = [];
    const collect = (name: string, argv: readonly string[]) => {
      if ((argv[0] === 'bash' || argv[0] === 'sh') && argv[1] === '-c' && argv[2] !== undefined) programs.push({ name, shell: argv[0], text: argv[2] });
    };
    const spec = parseJobSpec({ tasks: [{ cmd: 'hostname', type: 'openmpi', procsPerNode: 2 }], resources: { nodes: 2, cpus: 4 } });
    for (const t of TARGETS) {
      const a = t.adapter;
      collect(`${t.name}-status`, a.statusCommand('alice'));
      collect(`${t.name}-submit`, a.submitCommand(`${BASE_CTX.jobDir}/.hpcb/job.sh`, BASE_CTX));
      collect(`${t.name}-cancel`, a.cancelCommand(['101', '102']));
      if (a.accountingCommand) collect(`${t.name}-accounting`, a.accountingCommand(['101', '102'], 'alice'));
      if (a.execInJob) collect(`${t.name}-exec`, a.execInJob('101_3', ['true'], { jobDir: BASE_CTX.jobDir, timeoutSeconds: 30 }));
    }
    for (const [name, launchers] of [['slurm', SLURM_LAUNCHERS], ['pbs', PBS_LAUNCHERS]] as const) {
      for (const type of MPI_TASK_TYPES as MpiTaskType[]) collect(`${name}-launcher-${type}`, launchers[type](type, spec.tasks[0]!, spec));
    }
    // The adapters that have programs today: PBS status, PBS mpirun, the direct adapter's wrapper and cancel.
    expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['pbspro-status', 'direct-submit', 'direct-cancel', 'pbs-launcher-openmpi', 'slurm-exec']));
    const findings: string[] = [];
    for (const shell of ['bash', 'sh']) {
      const files = programs
        .filter((p) => p.shell === shell)
        .map((p) => {
          const file = join(work, `${p.name}.${shell}`);
          writeFileSync(file, `${p.text}\n`);
          return file;
        });
      // SC2016: a program that starts another shell (`setsid bash -c '...'`) quotes its body on purpose.
      if (files.length) findings.push(shellcheck(['-s', shell, '-e', 'SC2016', ...files]));
    }
    expect(findings.filter(Boolean).join('\n').split(`${work}/`).join('')).toBe('');
  });
});
