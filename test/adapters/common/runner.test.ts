import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptContext } from '../../../src/domain/adapter.js';
import { BridgeError } from '../../../src/domain/errors.js';
import { parseJobSpec, type JobSpecInput } from '../../../src/domain/jobSpec.js';
import { RUNNER_EXIT, containerArgv, renderRunner, taskCommandLine, type RunnerOptions } from '../../../adapters/common/runner.js';
import { parseEventRecord } from '../../../src/jobdir/events.js';
import { parseJobExitFile, parseStartedFile, parseTaskExitFile, parseTerminatedFile } from '../../../src/jobdir/files.js';
import {
  HPCB_DIR,
  bridgeDir,
  exitPath,
  schedulerStderrPath,
  schedulerStdoutPath,
  startedPath,
  taskExitPath,
  taskStderrPath,
  taskStdoutPath,
  terminatedPath,
} from '../../../src/jobdir/layout.js';
import { alive, exists, makeJobDir, read, removeDir, runScript, runScriptAndSignal } from './run-script.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

function jobDir(): string {
  const d = makeJobDir();
  dirs.push(d);
  mkdirSync(join(d, HPCB_DIR));
  return d;
}

function ctxFor(dir: string, extra: Partial<ScriptContext> = {}): ScriptContext {
  return { jobDir: dir, tag: 'hpcb-7-test', bridgeJobId: 7, attempt: 2, defaults: {}, ...extra };
}

const OPTS: RunnerOptions = { sidecarGraceSeconds: 1, arrayIndexVar: 'SLURM_ARRAY_TASK_ID' };

function script(input: JobSpecInput, ctx: ScriptContext, opts: RunnerOptions = OPTS): string {
  return `#!/bin/bash\n${renderRunner(parseJobSpec(input), ctx, opts)}`;
}

describe('file names', () => {
  it('are shared constants relative to the job directory, with a per-element directory for arrays', () => {
    expect(HPCB_DIR).toBe('.hpcb');
    expect(bridgeDir()).toBe('.hpcb');
    expect(bridgeDir(3)).toBe('.hpcb/3');
    expect(taskStdoutPath(0)).toBe('.hpcb/task.0.stdout');
    expect(taskStderrPath(2)).toBe('.hpcb/task.2.stderr');
    expect(taskExitPath(1)).toBe('.hpcb/task.1.exit');
    expect(taskExitPath(1, 4)).toBe('.hpcb/4/task.1.exit');
    expect(startedPath()).toBe('.hpcb/started');
    expect(exitPath(0)).toBe('.hpcb/0/exit');
    expect(terminatedPath()).toBe('.hpcb/terminated');
    expect(schedulerStdoutPath()).toBe('.hpcb/scheduler.out');
    expect(schedulerStderrPath(5)).toBe('.hpcb/scheduler.5.err');
  });

  it('refuse indexes that are not whole non-negative numbers', () => {
    expect(() => taskStdoutPath(-1)).toThrow(BridgeError);
    expect(() => bridgeDir(1.5)).toThrow(BridgeError);
  });

  it('have readers that refuse partial content instead of guessing', () => {
    expect(parseJobExitFile('3 1\n')).toEqual({ exitCode: 3, failedTask: 1 });
    expect(parseJobExitFile('0 -1\n')).toEqual({ exitCode: 0, failedTask: -1 });
    expect(parseJobExitFile('')).toBeUndefined();
    expect(parseJobExitFile('3')).toBeUndefined();
    expect(parseTaskExitFile('137\n')).toBe(137);
    expect(parseTaskExitFile('x')).toBeUndefined();
    expect(parseStartedFile('1795710056\n')).toBe(1795710056);
    expect(parseTerminatedFile('TERM 1795710056 2\n')).toEqual({ signal: 'TERM', at: 1795710056, runningTask: 2 });
    expect(parseTerminatedFile('TERM 17')).toBeUndefined();
  });
});

describe('rendering', () => {
  it('quotes every user string: hostile env values, cmd and workdir appear only inside single quotes', () => {
    const text = renderRunner(
      parseJobSpec({
        tasks: [{ cmd: "echo 'it''s' $HOME", workdir: 'a b/$(touch x)', env: { EVIL: "$(touch /tmp/x) `id` \"q\" 'q'\nline2" } }],
      }),
      ctxFor('/scratch/job 1', { env: { P: '$(reboot)' } }),
      OPTS,
    );
    expect(text).toContain(`export EVIL='$(touch /tmp/x) \`id\` "q" '\\''q'\\''\nline2'`);
    expect(text).toContain(`exec bash -c 'echo '\\''it'\\'''\\''s'\\'' $HOME'`);
    expect(text).toContain(`mkdir -p -- 'a b/$(touch x)' && cd -- 'a b/$(touch x)'`);
    expect(text).toContain(`hpcb_job_dir='/scratch/job 1'`);
    expect(text).toContain(`export P='$(reboot)'`);
  });

  it('refuses an invalid environment name from the context', () => {
    expect(() => renderRunner(parseJobSpec({ tasks: [{ cmd: 'true' }] }), ctxFor('/j', { env: { 'A-B': '1' } }), OPTS)).toThrow(
      /environment variable name/,
    );
  });

  it('refuses a relative job directory and an array job without an index variable', () => {
    const spec = parseJobSpec({ tasks: [{ cmd: 'true' }] });
    expect(() => renderRunner(spec, ctxFor('relative/dir'), OPTS)).toThrow(BridgeError);
    expect(() => renderRunner(spec, ctxFor('/j', { array: { size: 2 } }), {})).toThrow(/arrayIndexVar/);
  });

  it('renders a container task as one exact line, binding the job directory and artifact mountpoints', () => {
    const spec = parseJobSpec({
      tasks: [{ cmd: "python3 run.py --name 'a b'", image: 'docker://python:3.12-slim', workdir: 'work' }],
      artifacts: [{ url: 'data.tgz', mountpoint: 'data:/data' }, { url: 'other.tgz' }],
    });
    const ctx = ctxFor('/scratch/u/job-7');
    expect(containerArgv(spec.tasks[0]!, spec, ctx)).toEqual([
      'apptainer', 'exec', '--bind', '/scratch/u/job-7', '--pwd', '/scratch/u/job-7/work',
      '--bind', '/scratch/u/job-7/data:/data', 'docker://python:3.12-slim', 'bash', '-c', "python3 run.py --name 'a b'",
    ]);
    expect(taskCommandLine(0, spec, ctx, OPTS)).toBe(
      "apptainer exec --bind /scratch/u/job-7 --pwd /scratch/u/job-7/work --bind /scratch/u/job-7/data:/data " +
        "docker://python:3.12-slim bash -c 'python3 run.py --name '\\''a b'\\'''",
    );
  });

  it('uses the task runtime, then the adapter default, for containers', () => {
    const spec = parseJobSpec({ tasks: [{ cmd: 'true', image: '/images/a b.sif', runtime: 'singularity' }, { cmd: 'true', image: 'x.sif' }] });
    const ctx = ctxFor('/j');
    expect(taskCommandLine(0, spec, ctx, OPTS)).toBe("singularity exec --bind /j --pwd /j '/images/a b.sif' bash -c true");
    expect(taskCommandLine(1, spec, ctx, { ...OPTS, containerRuntime: 'singularity' })).toMatch(/^singularity exec /);
  });

  it('refuses mountpoints that would escape the job directory or break --bind', () => {
    const ctx = ctxFor('/j');
    const bad = (mountpoint: string) =>
      parseJobSpec({ tasks: [{ cmd: 'true', image: 'x.sif' }], artifacts: [{ url: 'a', mountpoint }] });
    expect(() => containerArgv(bad('../etc:/etc').tasks[0]!, bad('../etc:/etc'), ctx)).toThrow(/artifacts\[0\]\.mountpoint/);
    expect(() => containerArgv(bad('/etc:/mnt').tasks[0]!, bad('/etc:/mnt'), ctx)).toThrow(/relative/);
    expect(() => containerArgv(bad('d:/a,b').tasks[0]!, bad('d:/a,b'), ctx)).toThrow(/':' or ','/);
    const spec = bad('d:/data');
    expect(() => containerArgv(spec.tasks[0]!, spec, ctxFor('/scratch/a:b'))).toThrow(BridgeError);
  });

  it('puts the launcher before the container for MPI tasks and needs one', () => {
    const spec = parseJobSpec({
      resources: { nodes: 2, cpus: 4 },
      tasks: [{ cmd: './a.out', type: 'openmpi', procsPerNode: 2, image: 'mpi.sif' }],
    });
    const ctx = ctxFor('/j');
    const line = taskCommandLine(0, spec, ctx, { launcher: (type, task, s) => ['mpirun', '-np', String(s.resources.nodes * task.procsPerNode!), `--x=${type}`] });
    expect(line).toBe("mpirun -np 4 --x=openmpi apptainer exec --bind /j --pwd /j mpi.sif bash -c ./a.out");
    expect(() => taskCommandLine(0, spec, ctx, {})).toThrow(/launcher/);
  });
});

describe('running the script with bash', () => {
  it('runs tasks in order in the job directory, with env, workdir and exit files; exports HPCB_*', () => {
    const dir = jobDir();
    const hostile = "$(touch pwned) `touch pwned2` \"dq\" 'sq' \\ ;|&\nsecond line";
    const r = runScript(
      script(
        {
          resources: { cpus: 2, memory: 1.5 },
          tasks: [
            { cmd: 'echo first >> order.txt; printf %s "$EVIL" > evil.txt; env | grep ^HPCB_ | sort > hpcb.env', env: { EVIL: hostile } },
            { cmd: 'echo second >> ../order.txt; pwd > pwd.txt; echo "[$EVIL]"; echo to-stderr >&2', workdir: 'sub dir' },
          ],
        },
        ctxFor(dir, { env: { WF_PARAM: hostile } }),
      ),
    );
    expect(r.status).toBe(0);
    expect(read(dir, 'order.txt')).toBe('first\nsecond\n');
    expect(read(dir, 'evil.txt')).toBe(hostile);
    expect(exists(dir, 'pwned') || exists(dir, 'pwned2')).toBe(false);
    expect(read(dir, 'sub dir/pwd.txt').trim()).toBe(join(dir, 'sub dir'));
    expect(read(dir, taskStdoutPath(1))).toBe('[]\n'); // task env does not leak into the next task
    expect(read(dir, taskStderrPath(1))).toBe('to-stderr\n');
    expect(parseTaskExitFile(read(dir, taskExitPath(0)))).toBe(0);
    expect(parseTaskExitFile(read(dir, taskExitPath(1)))).toBe(0);
    expect(parseJobExitFile(read(dir, exitPath()))).toEqual({ exitCode: 0, failedTask: -1 });
    const started = parseStartedFile(read(dir, startedPath()));
    expect(started).toBeGreaterThan(1_600_000_000);
    expect(read(dir, 'hpcb.env').split('\n').filter(Boolean)).toEqual([
      `HPCB_ATTEMPT=2`,
      'HPCB_CPUS=2',
      `HPCB_JOB_DIR=${dir}`,
      'HPCB_JOB_ID=7',
      'HPCB_MEMORY=1536',
      'HPCB_NODES=1',
      'HPCB_TASK_INDEX=0',
    ]);
    // No temporary files are left behind by the atomic writes.
    expect(readdirSync(join(dir, HPCB_DIR)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('stops at the first failing task and records its index and status', () => {
    const dir = jobDir();
    const r = runScript(script({ tasks: [{ cmd: 'true' }, { cmd: 'echo failing; exit 5' }, { cmd: 'touch never' }] }, ctxFor(dir)));
    expect(r.status).toBe(5);
    expect(parseJobExitFile(read(dir, exitPath()))).toEqual({ exitCode: 5, failedTask: 1 });
    expect(parseTaskExitFile(read(dir, taskExitPath(1)))).toBe(5);
    expect(exists(dir, taskExitPath(2))).toBe(false);
    expect(exists(dir, 'never')).toBe(false);
  });

  it('with ignoreTaskFailures runs every task and ends with 0 -1; task files keep the failures', () => {
    const dir = jobDir();
    const r = runScript(
      script({ tasks: [{ cmd: 'exit 4' }, { cmd: 'touch ran' }], policies: { ignoreTaskFailures: true } }, ctxFor(dir)),
    );
    expect(r.status).toBe(0);
    expect(exists(dir, 'ran')).toBe(true);
    expect(parseTaskExitFile(read(dir, taskExitPath(0)))).toBe(4);
    expect(parseJobExitFile(read(dir, exitPath()))).toEqual({ exitCode: 0, failedTask: -1 });
  });

  it('retries a failing task up to maximumTaskRetries, appending its output', () => {
    const dir = jobDir();
    const r = runScript(
      script(
        {
          tasks: [{ cmd: 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; echo "try $n"; [ $n -ge 3 ]' }],
          policies: { maximumTaskRetries: 5 },
        },
        ctxFor(dir),
      ),
    );
    expect(r.status).toBe(0);
    expect(read(dir, taskStdoutPath(0))).toBe('try 1\ntry 2\ntry 3\n');
    expect(read(dir, taskStderrPath(0))).toContain('task 0 exited with status 1; retry 2 of 5');
    expect(parseTaskExitFile(read(dir, taskExitPath(0)))).toBe(0);

    const dir2 = jobDir();
    const r2 = runScript(script({ tasks: [{ cmd: 'echo x; exit 9' }], policies: { maximumTaskRetries: 1 } }, ctxFor(dir2)));
    expect(r2.status).toBe(9);
    expect(read(dir2, taskStdoutPath(0))).toBe('x\nx\n');
    expect(parseJobExitFile(read(dir2, exitPath()))).toEqual({ exitCode: 9, failedTask: 0 });
  });

  it('starts sidecars first, stops them with SIGTERM at the end and records their status', () => {
    const dir = jobDir();
    const r = runScript(
      script(
        {
          tasks: [
            { cmd: 'until [ -e side.pid ]; do sleep 0.05; done; echo main-saw-sidecar' },
            { cmd: 'echo $$ > side.pid.tmp; mv side.pid.tmp side.pid; trap "echo got-term > side.term; exit 0" TERM; while :; do sleep 0.05; done', type: 'sidecar' },
          ],
        },
        ctxFor(dir),
      ),
    );
    expect(r.status).toBe(0);
    expect(read(dir, taskStdoutPath(0))).toBe('main-saw-sidecar\n');
    expect(read(dir, 'side.term')).toBe('got-term\n');
    expect(parseTaskExitFile(read(dir, taskExitPath(1)))).toBe(0);
    expect(alive(Number(read(dir, 'side.pid')))).toBe(false);
    expect(parseJobExitFile(read(dir, exitPath()))).toEqual({ exitCode: 0, failedTask: -1 });
  });

  it('kills a sidecar that ignores SIGTERM, with its children, after the grace period', () => {
    const dir = jobDir();
    const t0 = Date.now();
    const r = runScript(
      script(
        {
          tasks: [
            { cmd: "trap '' TERM; (trap '' TERM; echo $BASHPID > child.pid; while :; do sleep 0.05; done) & echo $$ > side.pid; wait", type: 'sidecar' },
            { cmd: 'until [ -e child.pid ]; do sleep 0.05; done' },
          ],
        },
        ctxFor(dir),
        { ...OPTS, sidecarGraceSeconds: 1 },
      ),
    );
    const elapsed = Date.now() - t0;
    expect(r.status).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(parseTaskExitFile(read(dir, taskExitPath(0)))).toBe(137);
    expect(alive(Number(read(dir, 'side.pid')))).toBe(false);
    expect(alive(Number(read(dir, 'child.pid')))).toBe(false);
  });

  it('on SIGTERM writes terminated (with the running task), forwards it, and never writes exit', async () => {
    const dir = jobDir();
    const r = await runScriptAndSignal(
      script({ tasks: [{ cmd: 'true' }, { cmd: 'echo $$ > task.pid; exec sleep 30' }, { cmd: 'touch never' }] }, ctxFor(dir)),
      () => exists(dir, 'task.pid'),
      'SIGTERM',
    );
    expect(r.status).toBe(143);
    const term = parseTerminatedFile(read(dir, terminatedPath()));
    expect(term).toMatchObject({ signal: 'TERM', runningTask: 1 });
    expect(exists(dir, exitPath())).toBe(false);
    expect(exists(dir, taskExitPath(1))).toBe(false);
    expect(parseTaskExitFile(read(dir, taskExitPath(0)))).toBe(0);
    expect(exists(dir, 'never')).toBe(false);
    await new Promise((res) => setTimeout(res, 100));
    expect(alive(Number(read(dir, 'task.pid')))).toBe(false);
  });

  it('appends one start and one end record (tag, id, exit status) to the event log, and a term record on a signal', async () => {
    const dir = jobDir();
    const log = join(dir, '..', `${dir.split('/').pop()}-events.log`);
    dirs.push(log);
    const opts = { ...OPTS, nativeIdExpr: '${FAKE_ID:-}' };
    runScript(script({ tasks: [{ cmd: 'exit 4' }] }, ctxFor(dir, { eventLog: log }), opts), { FAKE_ID: '81' });
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean).map(parseEventRecord);
    expect(lines.map((l) => [l?.tag, l?.nativeId, l?.phase, l?.exitCode])).toEqual([
      ['hpcb-7-test', '81', 'start', null],
      ['hpcb-7-test', '81', 'end', 4],
    ]);
    expect(lines[1]!.at).toBeGreaterThanOrEqual(lines[0]!.at);
    await runScriptAndSignal(script({ tasks: [{ cmd: 'echo $$ > task.pid; exec sleep 30' }] }, ctxFor(dir, { eventLog: log }), opts), () => exists(dir, 'task.pid'), 'SIGTERM');
    const more = readFileSync(log, 'utf8').split('\n').filter(Boolean).slice(2).map(parseEventRecord);
    expect(more.map((l) => [l?.phase, l?.exitCode])).toEqual([['start', null], ['term', 143]]);
  });

  it('runs a job whose event log cannot be written, saying nothing about it', () => {
    const dir = jobDir();
    const r = runScript(script({ tasks: [{ cmd: 'echo ok' }] }, ctxFor(dir, { eventLog: '/nonexistent/dir/events.log' })));
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(parseJobExitFile(read(dir, exitPath()))).toMatchObject({ exitCode: 0 });
  });

  it('clears status files of an earlier run in the same directory', () => {
    const dir = jobDir();
    writeFileSync(join(dir, terminatedPath()), 'TERM 1 0\n');
    writeFileSync(join(dir, taskExitPath(3)), '0\n');
    writeFileSync(join(dir, exitPath()), '0 -1\n');
    const r = runScript(script({ tasks: [{ cmd: 'exit 2' }] }, ctxFor(dir)));
    expect(r.status).toBe(2);
    expect(exists(dir, terminatedPath())).toBe(false);
    expect(exists(dir, taskExitPath(3))).toBe(false);
    expect(read(dir, exitPath())).toBe('2 0\n');
  });

  it('array elements take their index from the scheduler variable and keep their own files', () => {
    const dir = jobDir();
    const text = script({ tasks: [{ cmd: 'echo "$HPCB_ARRAY_INDEX/$HPCB_ARRAY_SIZE" >> elements.txt; exit $HPCB_ARRAY_INDEX' }] }, ctxFor(dir, { array: { size: 3 } }));
    expect(runScript(text, { SLURM_ARRAY_TASK_ID: '0' }).status).toBe(0);
    expect(runScript(text, { SLURM_ARRAY_TASK_ID: '2' }).status).toBe(2);
    expect(read(dir, 'elements.txt')).toBe('0/3\n2/3\n');
    expect(parseJobExitFile(read(dir, exitPath(0)))).toEqual({ exitCode: 0, failedTask: -1 });
    expect(parseJobExitFile(read(dir, exitPath(2)))).toEqual({ exitCode: 2, failedTask: 0 });
    expect(read(dir, taskStdoutPath(0, 2))).toBe('');
    expect(exists(dir, startedPath(2))).toBe(true);
    expect(exists(dir, exitPath())).toBe(false);

    const bad = runScript(text, { SLURM_ARRAY_TASK_ID: '1;rm -rf x' });
    expect(bad.status).toBe(RUNNER_EXIT.BAD_ARRAY_INDEX);
    expect(bad.stderr).toContain('SLURM_ARRAY_TASK_ID=1;rm -rf x is not a number');
    expect(runScript(text).status).toBe(RUNNER_EXIT.BAD_ARRAY_INDEX);
  });

  it('exits with distinct codes when the job directory or .hpcb cannot be used', () => {
    const missing = join(jobDir(), 'does-not-exist');
    const r = runScript(script({ tasks: [{ cmd: 'true' }] }, ctxFor(missing)));
    expect(r.status).toBe(RUNNER_EXIT.NO_JOB_DIR);
    expect(r.stderr).toContain('cannot enter the job directory');

    const dir = jobDir();
    removeDir(join(dir, HPCB_DIR));
    writeFileSync(join(dir, HPCB_DIR), 'a file, not a directory');
    expect(runScript(script({ tasks: [{ cmd: 'true' }] }, ctxFor(dir))).status).toBe(RUNNER_EXIT.NO_BRIDGE_DIR);
  });

  it('runs MPI tasks through the launcher the adapter gives', () => {
    const dir = jobDir();
    const r = runScript(
      script({ resources: { cpus: 2 }, tasks: [{ cmd: 'echo "launched=$LAUNCHED_BY"', type: 'mpich' }] }, ctxFor(dir), {
        launcher: (type, task, spec) => ['env', `LAUNCHED_BY=${type}:${spec.resources.nodes * (task.procsPerNode ?? spec.resources.cpus)}`],
      }),
    );
    expect(r.status).toBe(0);
    expect(read(dir, taskStdoutPath(0))).toBe('launched=mpich:2\n');
  });

  it('hands the container runtime exactly the words it rendered (fake apptainer on PATH)', () => {
    const dir = jobDir();
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'apptainer'), '#!/bin/bash\nprintf "%s\\n" "$@" > "$HPCB_JOB_DIR/argv.txt"\nshift $(($# - 3))\nexec "$@"\n');
    chmodSync(join(bin, 'apptainer'), 0o755);
    const cmd = "echo 'in container' \"$PWD\"";
    const r = runScript(
      script({ tasks: [{ cmd, image: 'docker://alpine:3.20', workdir: 'w' }], artifacts: [{ url: 'a.tgz', mountpoint: 'ref:/ref' }] }, ctxFor(dir)),
      { PATH: `${bin}:${process.env.PATH}` },
    );
    expect(r.status).toBe(0);
    expect(read(dir, 'argv.txt').split('\n').slice(0, -1)).toEqual([
      'exec', '--bind', dir, '--pwd', join(dir, 'w'), '--bind', `${dir}/ref:/ref`, 'docker://alpine:3.20', 'bash', '-c', cmd,
    ]);
    expect(read(dir, taskStdoutPath(0))).toBe(`in container ${join(dir, 'w')}\n`);
  });
});

/**
 * A stand-in for podman on PATH: `image exists` knows one image (have:1); `run` records its argv
 * and the container id it "starts", then runs the task's `bash -c` program; `rm` records its argv.
 */
function fakePodman(dir: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'podman'),
    [
      '#!/bin/bash',
      'while [[ $1 == --* ]]; do shift; done',
      'case $1 in',
      '  image) [[ $4 == have:1 ]]; exit ;;',
      '  rm) printf "%s\\n" "$@" >> "$HPCB_FAKE/rm.txt"; exit 0 ;;',
      '  run) printf "%s\\n" "$@" > "$HPCB_JOB_DIR/argv.txt"; printf c0ffee > "$3"; shift $(($# - 3)); exec "$@" ;;',
      'esac',
      'exit 99',
    ].join('\n'),
  );
  chmodSync(join(bin, 'podman'), 0o755);
  return bin;
}

describe('podman tasks', () => {
  it('run through the runner with a recorded container id, the job directory mounted and variables named', () => {
    const dir = jobDir();
    const bin = fakePodman(dir);
    const cmd = "echo 'in container' \"$PWD\"";
    const r = runScript(
      script({ tasks: [{ cmd, image: 'have:1', runtime: 'podman', workdir: 'w', env: { ALPHA: "it's" } }], artifacts: [{ url: 'a.tgz', mountpoint: 'ref:/ref' }] }, ctxFor(dir, { env: { BETA: '1' } })),
      { PATH: `${bin}:${process.env.PATH}`, HPCB_FAKE: dir },
    );
    expect(r.status).toBe(0);
    expect(read(dir, 'argv.txt').split('\n').slice(0, -1)).toEqual([
      'run', '--cidfile', `${dir}/.hpcb/task.0.cid`,
      '--rm', '--pull=never', '--init', '--userns=keep-id', '--umask=0077', '--network=host', '--log-driver=passthrough',
      '--volume', `${dir}:${dir}`, '--workdir', join(dir, 'w'), '--volume', `${dir}/ref:/ref`,
      '--env', 'HPCB_*', '--env', 'BETA', '--env', 'ALPHA', '--', 'have:1', 'bash', '-c', cmd,
    ]);
    expect(read(dir, taskStdoutPath(0))).toBe(`in container ${join(dir, 'w')}\n`);
    // The id file goes with the container; nothing is left to remove at the end.
    expect(exists(dir, `${HPCB_DIR}/task.0.cid`)).toBe(false);
    expect(exists(dir, 'rm.txt')).toBe(false);
  });

  it('an image podman does not have: exit 125, the reason in .hpcb/failure, the image in stderr', () => {
    const dir = jobDir();
    const bin = fakePodman(dir);
    const r = runScript(
      script({ tasks: [{ cmd: 'true', image: 'have:1', runtime: 'podman' }, { cmd: 'true', image: 'gone:2', runtime: 'podman' }] }, ctxFor(dir)),
      { PATH: `${bin}:${process.env.PATH}`, HPCB_FAKE: dir, XDG_RUNTIME_DIR: '/nonexistent/run/user/4242' },
    );
    expect(r.status).toBe(125);
    expect(read(dir, `${HPCB_DIR}/failure`)).toBe('image-missing 1\n');
    expect(read(dir, taskStderrPath(1))).toMatch(/^hpc-bridge: container image gone:2 is not in the podman storage of \S+ on /);
    expect(parseJobExitFile(read(dir, exitPath()))).toEqual({ exitCode: 125, failedTask: 1 });
  });

  it('on SIGTERM the runner removes the containers it recorded before it exits', async () => {
    const dir = jobDir();
    const bin = fakePodman(dir);
    const r = await runScriptAndSignal(
      script({ tasks: [{ cmd: 'echo up; sleep 30', image: 'have:1', runtime: 'podman' }] }, ctxFor(dir)),
      () => exists(dir, taskStdoutPath(0)) && read(dir, taskStdoutPath(0)) === 'up\n',
      'SIGTERM',
      { PATH: `${bin}:${process.env.PATH}`, HPCB_FAKE: dir },
    );
    expect(r.status).toBe(143);
    expect(read(dir, 'rm.txt')).toBe('rm\n--force\n--time\n2\n--\nc0ffee\n');
    expect(exists(dir, `${HPCB_DIR}/task.0.cid`)).toBe(false);
  });

  it('refuses an MPI task that would run in podman (the field named)', () => {
    const spec = parseJobSpec({ tasks: [{ cmd: './a.out', type: 'openmpi', image: 'mpi:1' }], resources: { cpus: 2 } });
    const podmanTask = { ...spec, tasks: [{ ...spec.tasks[0]!, runtime: 'podman' as const }] };
    expect(() => taskCommandLine(0, podmanTask, ctxFor('/j'), { launcher: () => ['mpirun'] })).toThrow(/^tasks\[0\]\.runtime: podman cannot run an MPI task/);
  });
});
