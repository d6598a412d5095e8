/**
 * The real OpenPBS server of the test cluster (test/cluster/openpbs.sh) as e2e tests use it: the
 * bridge's cluster options, and the harness's own view of what the server ran.
 *
 * Its client commands live in /opt/pbs/bin; /usr/bin/qsub on the login node is Slurm's Torque
 * wrapper (the Torque-flavor tests use that one), so the adapter is given `commandDir`.
 */
import type { ClusterEnv } from '../../cluster/env.js';
import { onLogin, type LabOptions } from './lab.js';

export const PBS_BIN = '/opt/pbs/bin';

export const OPENPBS: LabOptions = { scheduler: 'pbs', flavor: 'pbspro', cluster: { adapter: { commandDir: PBS_BIN } } };

/** OPENPBS with more cluster keys merged in. */
export function openpbs(extra: Record<string, unknown> = {}): LabOptions {
  return { ...OPENPBS, cluster: { ...OPENPBS.cluster, ...extra } };
}

export interface PbsServerJob {
  nativeId: string;
  name: string;
  state: string;
  substate: number;
  exitStatus?: number;
  runCount: number;
}

/**
 * Every job of the cluster user the server still knows (history included), read with
 * `qstat -x -f -F json` and plain JSON.parse: the harness's view, independent of the adapter's
 * parser. No operand (every user's jobs, filtered here): with several ids this server's -F json
 * answers with the first job only. Array subjobs are not expanded (no -t): one record per submission.
 */
export async function pbsServerJobs(env: ClusterEnv): Promise<PbsServerJob[]> {
  const out = await onLogin(env, `${PBS_BIN}/qstat -x -f -F json`);
  const doc = JSON.parse(out) as { Jobs?: Record<string, Record<string, unknown>> };
  const mine = Object.entries(doc.Jobs ?? {}).filter(([, j]) => String(j['Job_Owner']).startsWith(`${env.user}@`));
  return mine.map(([nativeId, j]) => ({
    nativeId,
    name: String(j['Job_Name']),
    state: String(j['job_state']),
    substate: Number(j['substate']),
    ...(j['Exit_status'] !== undefined ? { exitStatus: Number(j['Exit_status']) } : {}),
    runCount: Number(j['run_count'] ?? 0),
  }));
}
