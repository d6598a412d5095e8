/**
 * A workflow across daemon crashes on the real Slurm over the real sshd: a chain
 * prep -> sweep (a 30-element job array) -> reduce -> final, the daemon SIGKILLed while the
 * array is being submitted and again while its elements run, then restarted to the end. Each
 * instance must have run exactly once (its own run log, and the scheduler's accounting counted
 * by tag), and the values must have flowed through the chain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDb, schedulerJobsByTag } from '../reliability/support.js';
import { killHard } from './support/daemons.js';
import { labSettings, onLogin, until } from './support/lab.js';

const PROC = join(import.meta.dirname, 'support', 'workflow-daemon-proc.ts');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function daemon(configFile: string, workflowFile?: string): { child: ChildProcess; workflowId: Promise<number | undefined> } {
  const child = spawn(process.execPath, ['--import', 'tsx', PROC, configFile, ...(workflowFile ? [workflowFile] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const workflowId = new Promise<number | undefined>((resolve) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => {
      const m = /^workflow (\d+)$/.exec(l);
      if (m) resolve(Number(m[1]));
      if (l === 'ready') resolve(undefined);
    });
    child.once('exit', () => resolve(undefined));
  });
  return { child, workflowId };
}

interface Row {
  id: number;
  kind: string;
  state: string;
  wf_job: string | null;
  wf_index: number | null;
  native_id: string | null;
  attempt: number;
}

function rows(dbPath: string): Row[] {
  let db: Database.Database | undefined;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
    return db.prepare('SELECT id, kind, state, wf_job, wf_index, native_id, attempt FROM jobs ORDER BY id').all() as Row[];
  } catch {
    return [];
  } finally {
    db?.close();
  }
}

const N = 30;
const TERMINAL = ['completed', 'failed', 'killed', 'deleted'];

describe('workflow crash safety on Slurm', () => {
  it('SIGKILL while the array is submitted and while it runs: every instance runs exactly once and the workflow completes with the right result', async () => {
    const lab = labSettings();
    const dbPath = join(lab.dataDir, 'hpc-bridge.db');
    const cluster = { ...lab.cluster, lostGraceSeconds: 120 };
    const configFile = join(lab.dataDir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ daemon: { dataDir: lab.dataDir, logLevel: 'warn' }, cluster }));
    const res = { cpus: 1, memory: 0.1, walltime: 5 };
    // Every script appends to runs.log in its own job directory: a second run would show there.
    const workflowFile = join(lab.dataDir, 'workflow.json');
    writeFileSync(
      workflowFile,
      JSON.stringify({
        name: 'crash-chain',
        jobs: [
          { name: 'prep', resources: res, tasks: [{ cmd: 'echo run >> runs.log; echo 100 > base.txt' }] },
          { name: 'sweep', resources: res, tasks: [{ cmd: 'echo run >> runs.log; sleep 3; echo $(( $(cat "$HPCB_PARENT_prep/base.txt") + x * x )) > out.txt' }] },
          { name: 'reduce', resources: res, tasks: [{ cmd: 'echo run >> runs.log; t=0; for d in $HPCB_PARENT_sweep; do t=$((t + $(cat "$d/out.txt"))); done; echo $t > total.txt' }] },
          { name: 'final', resources: res, tasks: [{ cmd: 'echo run >> runs.log; echo $(( $(cat "$HPCB_PARENT_reduce/total.txt") * 2 ))' }] },
        ],
        dependencies: { prep: ['sweep'], sweep: ['reduce'], reduce: ['final'] },
        factories: [{ type: 'parameterSweep', jobs: ['sweep'], parameters: [{ name: 'x', start: 1, end: N, step: 1 }] }],
        policies: { maximumParallel: 6 },
      }),
    );

    // First life: creates the workflow; killed the moment the array's carrier is being submitted.
    let d = daemon(configFile, workflowFile);
    const wfId = await d.workflowId;
    expect(wfId).toBeGreaterThan(0);
    const carrierState = () => rows(dbPath).find((r) => r.kind === 'array')?.state;
    await until('the array being submitted', () => ['submitting', 'queued', 'running'].includes(carrierState() ?? ''), 180_000, 10);
    await killHard(d.child);
    const atFirstKill = carrierState();

    // Second life: killed while the array's elements run (some done, some not).
    d = daemon(configFile);
    await until('the array half-way', () => {
      const sweep = rows(dbPath).filter((r) => r.kind === 'job' && r.wf_job === 'sweep');
      const started = sweep.filter((r) => ['running', 'finishing', 'staging_out', 'completed'].includes(r.state)).length;
      return started >= 3 && sweep.some((r) => !TERMINAL.includes(r.state));
    }, 180_000, 50);
    await killHard(d.child);
    const sweepAtSecondKill = rows(dbPath).filter((r) => r.kind === 'job' && r.wf_job === 'sweep').map((r) => r.state);
    console.info(`first kill: carrier ${atFirstKill}; second kill: sweep instances ${JSON.stringify(Object.fromEntries([...new Set(sweepAtSecondKill)].map((s) => [s, sweepAtSecondKill.filter((x) => x === s).length])))}`);

    // Third life runs to the end.
    d = daemon(configFile);
    await until('every job ended', () => {
      const all = rows(dbPath);
      return all.length === N + 4 && all.every((r) => TERMINAL.includes(r.state)) ? all : undefined;
    }, 300_000, 500);
    d.child.kill('SIGTERM');

    const all = rows(dbPath);
    const jobs = all.filter((r) => r.kind === 'job');
    expect(jobs.map((r) => r.state), `carrier was ${atFirstKill} at the first kill`).toEqual(Array(N + 3).fill('completed'));
    const carrier = all.find((r) => r.kind === 'array')!;
    expect(carrier.state).toBe('completed');

    const db = new Database(dbPath, { readonly: true });
    const instance = (db.prepare("SELECT value FROM meta WHERE key = 'instance'").get() as { value: string }).value;
    db.close();
    const dirOf = (id: number) => posix.join(lab.scratchRoot, 'jobs', `${instance}-${id}`);

    // The values flowed: sum over x of (100 + x^2), doubled.
    let expected = 0;
    for (let x = 1; x <= N; x++) expected += 100 + x * x;
    const final = jobs.find((r) => r.wf_job === 'final')!;
    expect((await onLogin(lab.env, `cat ${dirOf(final.id)}/.hpcb/task.0.stdout`)).trim()).toBe(String(2 * expected));

    // Each instance's script ran once: one line in its own run log.
    const counts = await onLogin(lab.env, jobs.map((r) => `wc -l < ${dirOf(r.id)}/runs.log`).join('; '));
    expect(counts.trim().split('\n').map(Number)).toEqual(Array(N + 3).fill(1));

    // And the scheduler ran each exactly once. Every scheduler job carrying this database's tag,
    // whatever its attempt: one per single job, for the array's tag exactly N elements, indices
    // 0..N-1, all of the one array the bridge knows, and none under any other bridge job's tag.
    const single = jobs.filter((r) => r.wf_job !== 'sweep');
    const sched = await until('accounting has every job', async () => {
      const found = await schedulerJobsByTag(lab.env, instance);
      return found.length >= single.length + N ? found : undefined;
    }, 60_000, 1000);
    for (const r of single) {
      expect(sched.filter((x) => x.jobId === r.id).map((x) => x.nativeId), `${r.wf_job}`).toEqual([r.native_id]);
    }
    const elements = sched.filter((x) => x.jobId === carrier.id);
    expect(elements.map((x) => x.nativeId).sort()).toEqual(Array.from({ length: N }, (_, k) => `${carrier.native_id}_${k}`).sort());
    expect(elements.every((x) => x.state === 'COMPLETED')).toBe(true);
    const known = new Set([...single.map((r) => r.id), carrier.id]);
    expect(sched.filter((x) => !known.has(x.jobId)).map((x) => x.tag)).toEqual([]);
    expect(sched).toHaveLength(single.length + N);
    // The database after the crashes: intact, and no job row contradicting its event log.
    expect(checkDb(dbPath)).toEqual({ integrity: 'ok', impossible: [] });
    const sweep = jobs.filter((r) => r.wf_job === 'sweep').sort((a, b) => a.wf_index! - b.wf_index!);
    expect(sweep.map((r) => r.native_id)).toEqual(sweep.map((r) => `${carrier.native_id}_${r.wf_index}`));
  });
});
