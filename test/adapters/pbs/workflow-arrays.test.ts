/**
 * The engine with the PBS Pro adapter's array and dependency capabilities: a factory is one `-J`
 * submission, its instances are followed as `<seq>[<k>].server`, a child of it waits with
 * `-W depend=afterok:<seq>[].server`, and exactly-once holds when qsub's answer is lost.
 *
 * There is no PBS Pro server on the test machines, so "qsub" and "qstat" are stand-ins run on the
 * local transport, around the real adapter's scripts and its real qstat JSON reader. The stand-in
 * qsub reads the script's `#PBS -N/-J` lines, runs every subjob to the end with PBS_ARRAY_INDEX and
 * PBS_JOBID set as PBS Pro sets them, then prints `<seq>[].fake`; its first answer is lost (the
 * way a qsub times out after the server accepted the job). The stand-in `qstat -f -F json -x -t`
 * either still lists the finished array and subjobs (history kept: adoption by the tag, which
 * PBS Pro keeps on subjobs) or lists nothing (history off or expired: adoption from the id each
 * subjob wrote to `.hpcb/<k>/native_id`).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPbsAdapter } from '../../../adapters/pbs/index.js';
import { Bridge } from '../../../src/bridge.js';
import type { SchedulerAdapter } from '../../../src/domain/adapter.js';
import { BridgeError } from '../../../src/domain/errors.js';
import { jobDirFor } from '../../../src/jobdir/layout.js';
import { silentLogger } from '../../../src/logging.js';
import { buildSettings } from '../../../src/settings/load.js';
import { fixture } from '../../helpers/fixtures.js';

const PBS_VERSION = fixture('openpbs-23.06/37_qstat_version.txt').trim();

let bridge: Bridge | undefined;
afterEach(async () => {
  await bridge?.close();
  bridge = undefined;
});

const FAKE_QSUB = [
  'script=$1; state=$2',
  'seq=$(( $(date +%s%N) / 1000 % 1000000000 ))',
  "name=$(sed -n 's/^#PBS -N //p' \"$script\" | head -n 1)",
  "range=$(sed -n 's/^#PBS -J //p' \"$script\" | head -n 1)",
  'if [ -n "$range" ]; then',
  '  r=${range%%%*}; n=$(( ${r#*-} + 1 )); k=0',
  '  while [ "$k" -lt "$n" ]; do',
  '    PBS_JOBID="$seq[$k].fake" PBS_ARRAY_INDEX=$k bash "$script" >/dev/null 2>&1 </dev/null',
  '    k=$((k + 1))',
  '  done',
  '  printf "%s %s %s\\n" "$seq" "$n" "$name" >> "$state"',
  '  echo "$seq[].fake"',
  'else',
  '  PBS_JOBID="$seq.fake" bash "$script" >/dev/null 2>&1 </dev/null',
  '  printf "%s 0 %s\\n" "$seq" "$name" >> "$state"',
  '  echo "$seq.fake"',
  'fi',
].join('\n');

/** `qstat -f -F json -x -t` of everything the stand-in qsub ran (mode history), or nothing (mode none). */
const FAKE_QSTAT = [
  'state=$1; mode=$2',
  '[ "$mode" = history ] && [ -s "$state" ] || exit 0',
  'printf \'{"timestamp":1764166600,"pbs_version":"2022.1.1","pbs_server":"fake","Jobs":{\'',
  'sep=',
  'while read -r seq n name; do',
  '  if [ "$n" -gt 0 ]; then',
  '    printf \'%s"%s[].fake":{"Job_Name":"%s","job_state":"F","array":"True","Exit_status":0}\' "$sep" "$seq" "$name"',
  '    k=0; while [ "$k" -lt "$n" ]; do printf \',"%s[%s].fake":{"Job_Name":"%s","job_state":"X","Exit_status":0}\' "$seq" "$k" "$name"; k=$((k + 1)); done',
  '  else',
  '    printf \'%s"%s.fake":{"Job_Name":"%s","job_state":"F","Exit_status":0}\' "$sep" "$seq" "$name"',
  '  fi',
  '  sep=,',
  'done < "$state"',
  "printf '}}\\n'",
].join('\n');

function fakePbspro(stateFile: string, mode: 'history' | 'none', seen: { answers: number; lost: number }): SchedulerAdapter {
  const real = createPbsAdapter({ flavor: 'pbspro' });
  return {
    ...real,
    submitCommand: (path) => ['bash', '-c', FAKE_QSUB, 'fake-qsub', path, stateFile],
    parseSubmit(r) {
      seen.answers++;
      const id = real.parseSubmit(r);
      if (id.includes('[]') && seen.lost === 0) {
        seen.lost++;
        throw new BridgeError('SCHEDULER_ERROR', 'qsub: timed out waiting for the server', { transient: true });
      }
      return id;
    },
    statusCommand: () => ['bash', '-c', FAKE_QSTAT, 'fake-qstat', stateFile, mode],
    // The engine asks which PBS answers before its first submit; this machine's own qstat is
    // Slurm's Torque wrapper, so the stand-in answers as the real OpenPBS did (37_*).
    probe: { ...real.probe!, command: ['printf', '%s\\n', PBS_VERSION] },
  };
}

describe('PBS Pro workflow arrays through the engine', () => {
  for (const mode of ['history', 'none'] as const) {
    it(`one -J submission for a sweep, its answer lost and adopted ${mode === 'history' ? 'by the tag qstat still shows' : "from the subjobs' own files"}; the child waits on the array id`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-pbs-wf-'));
      const stateFile = join(dataDir, 'qsub-runs');
      const settings = buildSettings({ dataDir }, [
        { file: '(test)', raw: { name: 'pbs', scheduler: 'direct', sharedAccount: true, runJobsAsRoot: true, scratchRoot: join(dataDir, 'scratch'), pollIntervalSeconds: 0.2, lostGraceSeconds: 2 } },
      ]);
      const seen = { answers: 0, lost: 0 };
      bridge = Bridge.open(settings, { logger: silentLogger(), adapterFor: () => fakePbspro(stateFile, mode, seen) });
      bridge.start();
      const wf = bridge.submitWorkflow('alice', {
        jobs: [
          { name: 'sweep', tasks: [{ cmd: 'echo "run $x" >> runs.log; echo $((x * x)) > sq' }] },
          { name: 'gather', tasks: [{ cmd: 'for d in $HPCB_PARENT_sweep; do cat "$d/sq"; done > all' }] },
        ],
        dependencies: { sweep: ['gather'] },
        factories: [{ type: 'parameterSweep', jobs: ['sweep'], parameters: [{ name: 'x', start: 1, end: 4, step: 1 }] }],
      });
      const done = await bridge.waitWorkflow(wf.id, 90_000);
      expect(done.status).toBe('completed');
      expect(seen.lost).toBe(1);

      // The stand-in qsub ran twice in all: the array once (never again after the lost answer), the child once.
      const runs = readFileSync(stateFile, 'utf8').trim().split('\n').map((l) => l.split(' '));
      expect(runs.map((r) => r[1])).toEqual(['4', '0']);

      const rt = bridge.reconciler('pbs')!.rt;
      const inst = bridge.store.instanceId();
      const rows = bridge.store.workflowJobs(wf.id);
      const carrier = rows.find((r) => r.kind === 'array')!;
      const seq = runs[0]![0]!;
      expect(carrier.nativeId).toBe(`${seq}[].fake`);
      const why = mode === 'history' ? /found in the queue by its tag/ : /its elements recorded the array id/;
      expect(bridge.store.events(carrier.id).some((e) => why.test(e.reason ?? ''))).toBe(true);

      const sweep = done.jobs.filter((j) => j.name === 'sweep').sort((a, b) => a.index! - b.index!);
      // Each instance ran exactly once, as element <seq>[<k>].fake of the one array.
      expect(sweep.map((j) => readFileSync(join(jobDirFor(rt.scratchRoot, inst, j.id), 'runs.log'), 'utf8'))).toEqual(['run 1\n', 'run 2\n', 'run 3\n', 'run 4\n']);
      expect(sweep.map((j) => j.nativeId)).toEqual(sweep.map((j) => `${seq}[${j.index}].fake`));

      // The child was handed to the scheduler with afterok on the array's id, and read every result.
      const gather = done.jobs.find((j) => j.name === 'gather')!;
      expect(readFileSync(join(jobDirFor(rt.scratchRoot, inst, gather.id), '.hpcb/job.sh'), 'utf8')).toContain(`\n#PBS -W depend=afterok:${seq}[].fake\n`);
      expect(readFileSync(join(jobDirFor(rt.scratchRoot, inst, gather.id), 'all'), 'utf8')).toBe('1\n4\n9\n16\n');
    }, 120_000);
  }
});
