/**
 * Staging benchmark against the test cluster, each figure beside a baseline from the same run:
 *   - stage-in of a 1 GiB artifact (daemon store -> cluster cache, sha256sum verify, hard link
 *     into the job directory), from the job's event log, against `scp` of the same file;
 *   - stage-out of a 1 GiB output (list, download, sha256 in the daemon's store), against `scp`
 *     downloading the same file;
 *   - bytes sent when a second job uses the same artifact (target 0), against the artifact size
 *     that a copy per job would send.
 *
 *   npx tsx bench/staging.ts             (HPCB_BENCH_FILE_MIB=256 for a shorter run)
 *
 * Numbers vary with machine load; nothing here is a test threshold.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Bridge } from '../src/bridge.js';
import type { JobRecord } from '../src/store/store.js';
import { makeRandomFile, sha256File } from '../test/contract/files.js';
import { labSettings, onLogin } from '../test/e2e/support/lab.js';
import { benchTable, type BenchRow } from './transport.js';

const MiB = 1 << 20;

function scp(args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn('scp', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`scp exited ${code}: ${err.trim()}`))));
  });
}

function row(name: string, value: number, unit: string, baseline: string, baselineValue: number, note: string): BenchRow {
  const r = (x: number): number => Math.round(x * 100) / 100;
  return { name, value: r(value), unit, baseline, baselineValue: r(baselineValue), ratio: baselineValue === 0 ? 0 : r(value / baselineValue), note };
}

/** Seconds between entering one state and the next one, from the job's event log. */
function phaseSeconds(b: Bridge, job: JobRecord, from: string): number {
  const ev = b.store.events(job.id);
  const i = ev.findIndex((e) => e.to === from);
  if (i < 0 || i + 1 >= ev.length) throw new Error(`job ${job.id} has no complete ${from} phase`);
  return (ev[i + 1]!.at - ev[i]!.at) / 1000;
}

export async function runStagingBench(opts: { fileBytes?: number; log?: (line: string) => void } = {}): Promise<BenchRow[]> {
  const fileBytes = opts.fileBytes ?? Number(process.env.HPCB_BENCH_FILE_MIB ?? 1024) * MiB;
  const log = opts.log ?? ((line: string) => console.error(line));
  const lab = labSettings();
  const env = lab.env;
  const local = await mkdtemp(join(tmpdir(), 'hpcb-bench-staging-'));
  const bridge = Bridge.open(lab.settings);
  bridge.start();
  const rows: BenchRow[] = [];
  const mib = fileBytes / MiB;
  try {
    const src = join(local, 'artifact.bin');
    log(`staging: generating ${mib.toFixed(0)} MiB`);
    const hash = await makeRandomFile(src, fileBytes);
    await bridge.staging.putArtifact('bench', 'artifact.bin', createReadStream(src), { expectedSha256: hash });

    log('staging: job 1 (stage-in of a new artifact, stage-out of a copy)');
    const { job } = bridge.submit('bench', { tasks: [{ cmd: 'cp artifact.bin copy.bin' }], artifacts: [{ url: 'artifact.bin' }], outputFiles: ['copy.bin'] });
    const done = await bridge.wait(job.id, 3_600_000);
    if (done.status !== 'completed') throw new Error(`bench job ended ${done.status}: ${done.statusReason}`);
    const out = bridge.staging.listOutputs(job.id, 'bench').outputs[0];
    if (!out || out.sha256 !== hash) throw new Error('the collected output does not match the artifact');
    const stageIn = phaseSeconds(bridge, done, 'staging_in');
    const stageOut = phaseSeconds(bridge, done, 'staging_out');

    log('staging: scp of the same file, up and down');
    await onLogin(env, `mkdir -p ${lab.scratchRoot}/scp`);
    const scpUp = await scp(['-F', env.sshConfig, '-q', src, `${env.sshAlias}:${lab.scratchRoot}/scp/artifact.bin`]);
    const back = join(local, 'scp.back');
    const scpDown = await scp(['-F', env.sshConfig, '-q', `${env.sshAlias}:${lab.scratchRoot}/scp/artifact.bin`, back]);
    if ((await sha256File(back)) !== hash) throw new Error('scp download does not match');

    log('staging: job 2 (the same artifact again)');
    const before = bridge.staging.stats();
    const second = await bridge.wait(bridge.submit('bench', { tasks: [{ cmd: 'test -s artifact.bin' }], artifacts: [{ url: 'artifact.bin' }] }).job.id, 600_000);
    if (second.status !== 'completed') throw new Error(`second job ended ${second.status}: ${second.statusReason}`);
    const sent = bridge.staging.stats().artifactBytesUploaded - before.artifactBytesUploaded;
    const reuseIn = phaseSeconds(bridge, second, 'staging_in');

    const size = `${mib.toFixed(0)} MiB random file`;
    rows.push(
      row('stage-in of a new artifact (upload, sha256sum on the cluster, link)', mib / stageIn, 'MiB/s', 'scp upload', mib / scpUp, `${size}; ${stageIn.toFixed(2)} s vs ${scpUp.toFixed(2)} s`),
      row('stage-out of one output (list, download, sha256)', mib / stageOut, 'MiB/s', 'scp download', mib / scpDown, `${size}; ${stageOut.toFixed(2)} s vs ${scpDown.toFixed(2)} s`),
      row('bytes sent when an artifact is reused', sent, 'bytes', 'a copy per job', fileBytes, `second job's stage-in took ${reuseIn.toFixed(2)} s (hard link from the cluster cache)`),
    );
  } finally {
    await bridge.close();
    await onLogin(env, `rm -rf ${lab.scratchRoot}`).catch(() => undefined);
    await rm(local, { recursive: true, force: true });
    await rm(lab.dataDir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await runStagingBench();
  console.log(benchTable(rows));
}
