/**
 * Captures that this adapter does not parse in production (Torque wrappers, `--json`, job
 * scripts, SSH and timing notes) but whose facts its decisions rest on. Each test states the
 * fact and checks it against what the project's code does with that capture: a test that only
 * read the capture's text could not fail whatever the code did.
 */
import { describe, expect, it } from 'vitest';
import type { Observation } from '../../../src/domain/adapter.js';
import { parseJobSpec } from '../../../src/domain/jobSpec.js';
import { finalInfoFromSacct, observationsFromSqueueRow, parseSacctRecords, parseSqueueTable } from '../../../adapters/slurm/parse.js';
import { mapSlurmState } from '../../../adapters/slurm/states.js';
import { renderDirective, slurmDirectives } from '../../../adapters/slurm/render.js';
import { execFileSync } from 'node:child_process';
import { finalFromRecord, parseDuration, parseQstatFullText, refusedStatusOption } from '../../../adapters/pbs/parse.js';
import { createPbsAdapter } from '../../../adapters/pbs/index.js';
import { parsePbsnodes, parseQstatTable, parseQueueTables } from '../../../adapters/pbs/tables.js';
import { slurmAdapter } from '../../../adapters/slurm/index.js';
import { SshSchema } from '../../../src/settings/schema.js';
import { fixture, fixtureWithExit } from '../../helpers/fixtures.js';
import { block, lines } from './helpers.js';

/** Our reading of 08a (squeue -t all, every job of the session) by id. */
function session(): Map<string, Observation> {
  const header = ['JOBID', 'NAME', 'USER', 'STATE', 'REASON', 'TIME', 'TIME_LIMIT', 'START_TIME', 'END_TIME', 'NODELIST', 'PARTITION', 'CPUS', 'MIN_MEMORY'];
  const rows = parseSqueueTable(block(fixture('slurm-22.05/08a-squeue-format.txt'), /^8\|/, /^\[exit/), '|', header);
  return new Map(rows.flatMap(observationsFromSqueueRow).map((o) => [o.nativeId, o]));
}

/** `qstat` summary rows (Torque wrapper) as id → S column, read by the PBS adapter's parser. */
function qstatStates(text: string): Map<string, string> {
  return new Map(parseQstatTable(text).map((r) => [r.id, r.state]));
}

describe('job scripts used for the captures (00)', () => {
  it('our directives spell memory and arrays the way the captured jobs did', () => {
    const scripts = fixture('slurm-22.05/00-jobscripts.txt');
    expect(scripts).toContain('#SBATCH --mem=50M');
    expect(scripts).toContain('#SBATCH --array=1-5');
    const oomLike = parseJobSpec({ tasks: [{ cmd: 'x' }], resources: { memory: 50 / 1024 } });
    const ours = slurmDirectives(oomLike, { jobDir: '/j', tag: 'oom', bridgeJobId: 1, attempt: 1, defaults: {} }).map(renderDirective);
    expect(ours).toContain('#SBATCH --mem=50M');
    expect(ours).toContain('#SBATCH --job-name=oom');
  });
});

describe('squeue --json (08d): not used', () => {
  it('ignores filters (all 28 jobs, pitfall 10) and gives raw wait statuses that agree with sacct -P', () => {
    expect(fixture('slurm-22.05/08d-squeue-json.txt')).toContain('num jobs: 28');
    const doc = JSON.parse(fixture('slurm-22.05/08d-squeue-json-full.json.txt')) as {
      meta: { Slurm: { release: string } };
      jobs: { job_id: number; job_state: string; exit_code: number; state_reason: string; array_job_id: number; array_task_id: number | null }[];
    };
    expect(doc.meta.Slurm.release).toBe('22.05.8');
    expect(doc.jobs).toHaveLength(28);
    const acct = finalInfoFromSacct(
      parseSacctRecords(
        lines(fixture('slurm-22.05/13a-sacct-slurmdbd-parsable2.txt')).slice(1, -1).join('\n'),
        'JobID|JobIDRaw|JobName|User|Account|Partition|State|ExitCode|DerivedExitCode|Reason|Submit|Start|End|Elapsed|Timelimit|NodeList'.split('|'),
      ),
    );
    const byRaw = new Map([...acct].map(([id, f]) => [id, f]));
    const j2 = doc.jobs.find((j) => j.job_id === 2)!;
    expect(j2.exit_code >> 8).toBe(3);
    expect(byRaw.get('2')?.exitCode).toBe(3);
    const j10 = doc.jobs.find((j) => j.job_id === 10)!;
    expect(j10.exit_code & 0x7f).toBe(9);
    expect(byRaw.get('10')?.signal).toBe(9);
    // Its states map like squeue's %T: the same verdict for every job of the session.
    const s = session();
    let compared = 0;
    for (const j of doc.jobs) {
      const id = j.array_job_id ? `${j.array_job_id}_${j.array_task_id}` : String(j.job_id);
      const o = s.get(id);
      if (!o) continue;
      expect(mapSlurmState(j.job_state, j.state_reason), id).toEqual(o.final ? { state: o.state, final: o.final.kind } : { state: o.state });
      compared++;
    }
    expect(compared).toBe(28);
  });
});

describe('Torque wrappers on Slurm (12): why the Slurm adapter talks to sbatch/squeue/sacct directly', () => {
  it('12c / 08a: qstat shows every finished job as C, whatever squeue says happened', () => {
    const q = qstatStates(block(fixture('slurm-22.05/12c-qstat-running.txt'), /^Job id/, /^--- qstat 29/));
    const s = session();
    const finishedKinds = new Set<string>();
    for (const [id, st] of q) {
      const o = s.get(id) ?? [...s.values()].find((x) => x.nativeId.endsWith(`_${id}`));
      if (!o) continue;
      if (st === 'C') {
        expect(o.state).toBe('done');
        finishedKinds.add(o.final!.kind);
      }
      if (st === 'R') expect(o.state).toBe('running');
      if (st === 'Q') expect(o.state).toBe('pending');
    }
    expect([...finishedKinds].sort()).toEqual(['cancelled', 'completed', 'dependency', 'failed', 'timeout']);
    expect(q.get('29')).toBe('Q');
  });

  it('12d / 12l / 12n / 12p: qstat -f has no exit status, and prints an unlimited walltime as 71582788:15:00', () => {
    // Read by the PBS adapter: no record yields an exit code, and a finished one (C) says to use
    // the exit-code file, which is why the outcome never rests on qstat here.
    for (const rel of ['slurm-22.05/12d-qstat-f-running.txt', 'slurm-22.05/12l-qstat-f-completed.txt', 'slurm-22.05/12n-qstat-pbsjob-completed.txt', 'slurm-22.05/12p-qstat-running.txt']) {
      const records = parseQstatFullText(fixture(rel));
      expect(records.length, rel).toBeGreaterThan(0);
      for (const r of records) {
        const final = finalFromRecord(r, 'torque');
        expect({ rel, id: r.id, exitCode: final.exitCode }).toEqual({ rel, id: r.id, exitCode: null });
        if (final.nativeState === 'C') expect(final).toMatchObject({ kind: 'unknown', reason: expect.stringMatching(/use the exit-code file/) });
      }
    }
    const walltimes = [...fixture('slurm-22.05/12l-qstat-f-completed.txt').matchAll(/Resource_List\.walltime = (\S+)/g)].map((m) => m[1]!);
    expect(walltimes).toEqual(['00:02:00', '71582788:15:00']);
    expect(walltimes.map(parseDuration)).toEqual([120, 71582788 * 3600 + 15 * 60]);
    expect(qstatStates(fixture('slurm-22.05/12n-qstat-pbsjob-completed.txt')).get('29')).toBe('C');
    expect(qstatStates(fixture('slurm-22.05/12p-qstat-running.txt')).get('30')).toBe('R');
  });

  it('12e / 12k: qstat -x does not exist (exit 2); qstat -q prints a table and exits 153', () => {
    const x = fixtureWithExit('slurm-22.05/12e-qstat-x-running.txt');
    expect(x.exitCode).toBe(2);
    // The PBS adapter recognises the refusal, and its Torque status program falls back to -f.
    expect(refusedStatusOption({ exitCode: x.exitCode!, signal: null, stdout: '', stderr: x.body, durationMs: 0 })).toBe('x');
    const status = createPbsAdapter({ flavor: 'torque' }).statusCommand('u').join(' ');
    expect(status).toContain('qstat -x');
    expect(status).toContain('exec qstat -f -1');
    const qq = fixtureWithExit('slurm-22.05/12k-qstat-Q-q.txt');
    expect(qq.exitCode).toBe(153);
    expect(parseQueueTables(qq.body).map((q) => q.name)).toContain('short');
  });

  it('12g / 12q: qdel exits 1 for an unknown id where scancel is silent (10k); the job becomes CANCELLED', () => {
    const g = fixture('slurm-22.05/12g-qdel-queued.txt');
    expect(g).toContain('qdel rc=0');
    expect(g).toContain('qdel unknown rc=1');
    expect(qstatStates(g).get('28')).toBe('C');
    const k = fixtureWithExit('slurm-22.05/10k-scancel-unknown.txt');
    expect(k.exitCode).toBe(0);
    expect(() => slurmAdapter.parseCancel({ exitCode: k.exitCode!, signal: null, stdout: k.body, stderr: '', durationMs: 0 })).not.toThrow();
    const qdel = fixture('slurm-22.05/12q-qdel-running.txt');
    expect(qdel).toContain('rc=0');
    expect(mapSlurmState(/JobState=(\S+)/.exec(qdel)![1]!)).toEqual({ state: 'done', final: 'cancelled' });
  });

  it('12a / 12i: qsub -v becomes --export=none (drops the environment), -t 1-3 a 1-based --array', () => {
    const a = lines(fixture('slurm-22.05/12a-qsub-sbatchline.txt'));
    expect(a[1]).toBe('/usr/bin/sbatch -o out/x.log -N1 -n2 -t5 --export=none,A=1,B=2 --mem=1024M -J x -p short jobs/pbs.sh');
    const i = lines(fixture('slurm-22.05/12i-qsub-array-t.txt'));
    expect(i[0]).toContain("--array='1-3'");
    expect(i[0]).toContain('-o pbs.sh.o%A.%a');
    // Ours: sbatch directly, --export=ALL, and 0-based elements that match HPCB_ARRAY_INDEX.
    const d = slurmDirectives(parseJobSpec({ tasks: [{ cmd: 'x' }] }), { jobDir: '/j', tag: 't', bridgeJobId: 1, attempt: 1, defaults: {}, array: { size: 3 } }).map(renderDirective);
    expect(d).toContain('#SBATCH --array=0-2');
    expect(d).toContain('#SBATCH --export=ALL');
  });

  it('12m: PBS_* variables are empty without the spank_pbs plugin; SLURM_JOB_ID is always there', () => {
    const out = fixture('slurm-22.05/12m-pbs-output.txt');
    const env = /PBS_JOBID=(\S*) PBS_O_WORKDIR=\S* SLURM_JOB_ID=(\S*)/.exec(out)!;
    expect([env[1], env[2]]).toEqual(['', '29']);
    // So a Torque-flavor script takes its own id from SLURM_JOB_ID when PBS_JOBID is empty: the
    // expression in the script the PBS adapter renders gives 29 in that job's environment.
    const script = createPbsAdapter({ flavor: 'torque' }).renderScript(parseJobSpec({ tasks: [{ cmd: 'x' }] }), { jobDir: '/j', tag: 't', bridgeJobId: 1, attempt: 0, defaults: {} });
    const expr = '${PBS_JOBID:-${SLURM_JOB_ID:-}}';
    expect(script).toContain(expr);
    expect(execFileSync('bash', ['-c', `printf %s "${expr}"`], { env: { PATH: process.env.PATH, PBS_JOBID: env[1], SLURM_JOB_ID: env[2] } }).toString()).toBe('29');
  });

  it('12j: pbsnodes reports the node busy (job-exclusive) with 2 CPUs', () => {
    const n = parsePbsnodes(fixtureWithExit('slurm-22.05/12j-pbsnodes.txt').body);
    expect(n).toEqual([expect.objectContaining({ name: 'vm', state: 'job-exclusive', cpus: 2 })]);
  });
});

describe('SSH and timing notes (14, 16)', () => {
  it('14: beyond MaxSessions=10 channels are refused, yet all 12 commands ran (the CLI fell back)', () => {
    const t = fixture('slurm-22.05/14-ssh-maxsessions.txt');
    const refused = t.match(/Session open refused by peer/g)!.length;
    const sessions = t.match(/^session \d+ exit=0$/gm)!.length;
    expect({ refused, sessions }).toEqual({ refused: 2, sessions: 12 });
    // The bridge's default channel budget per connection stays below the sessions sshd allowed.
    const ssh = SshSchema.parse({ host: 'h', user: 'u', knownHosts: '/k' });
    expect(ssh.channelBudget).toBeLessThan(sessions - refused);
  });

  it('16: one squeue for everything is ~10x cheaper than sacct, so sacct is only for jobs squeue forgot', () => {
    const b = fixture('slurm-22.05/16-benchmarks.txt');
    const ms = (label: RegExp): number => Number(new RegExp(`${label.source}\\s+(\\d+) ms`).exec(b)![1]);
    const squeue = ms(/local squeue -t all -h -o \.\.\.:/);
    const sacct = ms(/local sacct -X -P \(slurmdbd, ~40 jobs\):/);
    expect(squeue).toBe(9);
    expect(sacct).toBe(96);
    expect(sacct / squeue).toBeGreaterThan(5);
    // And so the adapter polls with squeue and asks accounting only about the ids it names.
    expect(slurmAdapter.statusCommand('u')[0]).toBe('squeue');
    const acct = slurmAdapter.accountingCommand!(['41', '42'], 'u');
    expect(acct[0]).toBe('sacct');
    expect(acct.join(' ')).toMatch(/41,42|41.*42/);
  });
});
