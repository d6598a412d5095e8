/**
 * Transport benchmark against the test cluster's sshd: what one long-lived SshTransport
 * connection buys over the OpenSSH client the way scripts use it.
 *
 *   npx tsx bench/transport.ts            (1 GiB file; HPCB_BENCH_FILE_MIB=256 for a shorter run)
 *
 * Rows:
 *   - exec round trips per second on one SshTransport connection, against `ssh` with a
 *     ControlMaster (one ssh process per command over a shared connection) and against a new
 *     ssh process and connection per command;
 *   - upload and download MiB/s of one random file through SshTransport (SFTP fastPut/fastGet)
 *     against `scp` of the same file.
 * Everything runs sequentially on one machine; numbers vary with load. Nothing here is a test
 * threshold.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createTransport, type SshTransport } from '../src/transport/index.js';
import { makeRandomFile, sha256File } from '../test/contract/files.js';

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  baseline: string;
  baselineValue: number;
  /** value / baselineValue: above 1 means the bridge is faster. */
  ratio: number;
  note: string;
}

/** The part of the test cluster's env.json the benchmark needs. */
export interface TransportBenchEnv {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  knownHosts: string;
  sshConfig: string;
  sshAlias: string;
  scratchRoot: string;
}

export interface TransportBenchOptions {
  /** Sequential `true` commands for the one-connection and ControlMaster rows. Default 500. */
  execCount?: number;
  /** Sequential commands with a new ssh process and connection each. Default 30. */
  freshCount?: number;
  /** Size of the transfer file. Default 1 GiB (HPCB_BENCH_FILE_MIB overrides). */
  fileBytes?: number;
  log?: (line: string) => void;
}

const MiB = 1 << 20;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

async function timed(f: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

function row(name: string, value: number, unit: string, baseline: string, baselineValue: number, note: string): BenchRow {
  const r = (x: number): number => Math.round(x * 100) / 100;
  return { name, value: r(value), unit, baseline, baselineValue: r(baselineValue), ratio: r(value / baselineValue), note };
}

export async function runTransportBench(env: TransportBenchEnv, opts: TransportBenchOptions = {}): Promise<BenchRow[]> {
  const execCount = opts.execCount ?? 500;
  const freshCount = opts.freshCount ?? 30;
  const fileBytes = opts.fileBytes ?? Number(process.env.HPCB_BENCH_FILE_MIB ?? 1024) * MiB;
  const log = opts.log ?? ((line: string) => console.error(line));
  const rows: BenchRow[] = [];

  const local = await mkdtemp(join(tmpdir(), 'hpcb-bench-'));
  // ControlPath must stay short (a Unix socket path is limited to ~108 bytes).
  const controlPath = join(local, 'cm');
  const sshBase = ['-F', env.sshConfig];
  const muxed = [...sshBase, '-o', 'ControlMaster=auto', '-o', `ControlPath=${controlPath}`, '-o', 'ControlPersist=60'];
  const t: SshTransport = createTransport({
    kind: 'ssh',
    host: env.host,
    port: env.port,
    user: env.user,
    privateKeyPath: env.privateKey,
    knownHostsPath: env.knownHosts,
  });
  const remoteDir = `${env.scratchRoot}/bench-${process.pid}`;

  try {
    // --- exec round trips -------------------------------------------------------------
    for (let i = 0; i < 10; i++) await t.exec(['true']); // connect and warm up
    log(`exec: ${execCount} x true on one SshTransport connection`);
    const ours = await timed(async () => {
      for (let i = 0; i < execCount; i++) {
        const r = await t.exec(['true']);
        if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode}`);
      }
    });
    const oursRate = execCount / ours;

    await run('ssh', [...muxed, env.sshAlias, 'true']); // starts the master
    log(`exec: ${execCount} x ssh (ControlMaster) true`);
    const cm = await timed(async () => {
      for (let i = 0; i < execCount; i++) await run('ssh', [...muxed, env.sshAlias, 'true']);
    });
    await run('ssh', [...muxed, '-O', 'exit', env.sshAlias]).catch(() => {});
    const cmRate = execCount / cm;

    log(`exec: ${freshCount} x ssh with a new connection each`);
    const fresh = await timed(async () => {
      for (let i = 0; i < freshCount; i++) await run('ssh', [...sshBase, '-o', 'ControlMaster=no', '-o', 'ControlPath=none', env.sshAlias, 'true']);
    });
    const freshRate = freshCount / fresh;

    const perExec = (rate: number): string => `${(1000 / rate).toFixed(1)} ms/exec`;
    rows.push(
      row('exec round trips, one SshTransport connection', oursRate, 'exec/s', 'ssh with ControlMaster (one ssh process per exec)', cmRate,
        `${execCount} sequential \`true\`; ${perExec(oursRate)} vs ${perExec(cmRate)}`),
      row('exec round trips, one SshTransport connection', oursRate, 'exec/s', 'ssh, new process + connection per exec', freshRate,
        `${freshCount} sequential for the baseline; ${perExec(freshRate)} each`),
    );

    // --- file transfer ------------------------------------------------------------------
    await t.mkdirp(remoteDir);
    const src = join(local, 'bench.bin');
    log(`transfer: generating ${(fileBytes / MiB).toFixed(0)} MiB`);
    const hash = await makeRandomFile(src, fileBytes);
    const mib = fileBytes / MiB;

    log('transfer: SshTransport upload');
    const up = await timed(() => t.upload(src, `${remoteDir}/ours.bin`));
    log('transfer: scp upload');
    const scpUp = await timed(() => run('scp', [...sshBase, '-q', src, `${env.sshAlias}:${remoteDir}/scp.bin`]));

    log('transfer: SshTransport download');
    const back = join(local, 'ours.back');
    const down = await timed(() => t.download(`${remoteDir}/ours.bin`, back));
    log('transfer: scp download');
    const scpBack = join(local, 'scp.back');
    const scpDown = await timed(() => run('scp', [...sshBase, '-q', `${env.sshAlias}:${remoteDir}/scp.bin`, scpBack]));

    // Correctness, outside the timed parts.
    for (const f of [back, scpBack]) {
      if ((await stat(f)).size !== fileBytes || (await sha256File(f)) !== hash) throw new Error(`${f} does not match the source`);
    }
    const remoteHash = (await t.exec(['sha256sum', `${remoteDir}/ours.bin`, `${remoteDir}/scp.bin`])).stdout;
    if (remoteHash.split('\n').filter((l) => l.startsWith(hash)).length !== 2) throw new Error(`uploaded files differ: ${remoteHash}`);

    const size = `${mib.toFixed(0)} MiB random file, sha256 verified`;
    rows.push(
      row('upload (SFTP fastPut, temp + rename)', mib / up, 'MiB/s', 'scp', mib / scpUp, `${size}; ${up.toFixed(2)} s vs ${scpUp.toFixed(2)} s`),
      row('download (SFTP fastGet, temp + rename)', mib / down, 'MiB/s', 'scp', mib / scpDown, `${size}; ${down.toFixed(2)} s vs ${scpDown.toFixed(2)} s`),
    );
    const s = t.stats();
    log(`SshTransport stats: ${JSON.stringify(s)}`);
  } finally {
    await t.remove(remoteDir, { recursive: true }).catch(() => {});
    await t.close();
    await rm(local, { recursive: true, force: true });
  }
  return rows;
}

export function benchTable(rows: readonly BenchRow[]): string {
  const head = '| benchmark | value | baseline | baseline value | ratio | note |\n|---|---:|---|---:|---:|---|';
  const lines = rows.map((r) => `| ${r.name} | ${r.value} ${r.unit} | ${r.baseline} | ${r.baselineValue} ${r.unit} | ${r.ratio}× | ${r.note} |`);
  return [head, ...lines].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { loadClusterEnv } = await import('../test/cluster/env.js');
  const rows = await runTransportBench(loadClusterEnv());
  console.log(benchTable(rows));
}
