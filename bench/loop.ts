/**
 * The loop users feel (issue 16): create jobs, wait, read a number, create the next ones. Against
 * the real Slurm over SSH, a daemon in this process with its HTTP API and the SDK, with the
 * cluster's defaults for the poll (5 s) and the safety-net poll (60 s):
 *
 *  - one round of the loop, 10 rounds, with 1 job and with 20 jobs per round (each job prints
 *    the previous round's number plus one; the next round reads it from stdout), against an
 *    `sbatch --wait` loop and an `srun` loop doing the same on the login node (timed there);
 *  - job end (the end record's own time stamp, written by the script on the same machine's
 *    clock) to the SDK's wait() returning: median and p95;
 *  - scheduler commands (status, accounting, submit) per hour while 100 jobs run through, over a
 *    shorter window scaled to an hour (commands / window seconds x 3600), against the same
 *    jobs with the event log not followed and the poll every 5 s;
 *  - the follower program's CPU on the login node (its own and its children's, from /proc),
 *    idle and while those 100 jobs end, against the CPU of the squeue polls every 5 s would run.
 *
 * The loop rows also log where a round's time goes, hop by hop (describeBreakdown).
 * `npx tsx bench/loop.ts --loop-rows` runs only the loop and end-to-wait() rows.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { buildApp } from '../src/api/app.js';
import { listen } from '../src/api/listen.js';
import { TokenStore } from '../src/auth/tokens.js';
import { Bridge } from '../src/bridge.js';
import { Client, Job } from '../src/client/index.js';
import { jobTag } from '../src/engine/tag.js';
import { eventLogFor } from '../src/jobdir/layout.js';
import { silentLogger } from '../src/logging.js';
import { labSettings, onLogin, type Lab } from '../test/e2e/support/lab.js';
import { makeRow, pct, sleep, type BenchOptions, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

interface Daemon {
  lab: Lab;
  bridge: Bridge;
  client: Client;
  close: () => Promise<void>;
}

export async function daemon(cluster: Record<string, unknown>): Promise<Daemon> {
  const lab = labSettings({ pollIntervalSeconds: (cluster.pollIntervalSeconds as number | undefined) ?? 5, cluster });
  const bridge = Bridge.open(lab.settings, { logger: silentLogger() });
  bridge.start();
  const token = new TokenStore(bridge.store.tokens).create('bench').token;
  const server = await listen(buildApp(bridge, { logger: silentLogger() }), { host: '127.0.0.1', port: 0 });
  const client = new Client({ url: server.url, token });
  const prefix = `hb${bridge.store.instanceId()}-`;
  return {
    lab,
    bridge,
    client,
    close: async () => {
      await server.close();
      await bridge.close();
      await onLogin(lab.env, `squeue -h --user=${lab.env.user} -o '%i %j' | awk -v p=${prefix} 'index($2, p) == 1 { print $1 }' | xargs -r scancel; rm -rf ${lab.scratchRoot}`).catch(() => '');
    },
  };
}

/**
 * Where one round's time goes, hop by hop (ms, wall clock of this process and of the cluster,
 * which share the machine): each hop ends at the time stamp named, from the hop before it.
 */
const HOPS = ['created', 'staging_in', 'submitting', 'queued', 'script start', 'script end', 'finishing', 'staging_out', 'completed', 'wait() returned', 'stdout read'] as const;
export type Breakdown = Record<(typeof HOPS)[number] | 'round start', number> & { tag: string };

function breakdownOf(d: Daemon, id: number, t0: number, waited: number, read: number): Breakdown {
  const job = d.bridge.get(id)!;
  const at = (state: string) => d.bridge.store.events(id).find((e) => e.to === state)?.at ?? NaN;
  return {
    tag: jobTag(d.bridge.store.instanceId(), id, job.attempt),
    'round start': t0,
    created: at('accepted'),
    staging_in: at('staging_in'),
    submitting: at('submitting'),
    queued: at('queued'),
    'script start': NaN, // from the start record (fillStarts): startedAt may hold a whole second
    'script end': job.eventAt ?? NaN,
    finishing: at('finishing'),
    staging_out: at('staging_out'),
    completed: at('completed'),
    'wait() returned': waited,
    'stdout read': read,
  };
}

/** The start records' own time stamps (ms), read from the event log after the rounds. */
export async function fillStarts(d: Daemon, hops: Breakdown[]): Promise<void> {
  if (hops.length === 0) return;
  const out = await onLogin(d.lab.env, `grep -E ' (${hops.map((h) => h.tag).join('|')}) [^ ]+ start ' ${eventLogFor(d.lab.scratchRoot)} || :`);
  const at = new Map(out.trim().split('\n').filter(Boolean).map((l) => { const f = l.split(' '); return [f[1]!, Number(f[5]) * 1000] as const; }));
  for (const h of hops) h['script start'] = at.get(h.tag) ?? NaN;
}

/** Mean duration of each hop over the rounds' last jobs to return from wait(), as "hop +ms" pairs. */
export function describeBreakdown(rows: readonly Breakdown[]): string {
  const parts: string[] = [];
  let prev: number[] = rows.map((r) => r['round start']);
  for (const h of HOPS) {
    const cur = rows.map((r) => r[h]);
    const ok = cur.map((c, i) => c - prev[i]!).filter((x) => Number.isFinite(x));
    parts.push(`${h} +${ok.length ? Math.round(ok.reduce((a, b) => a + b, 0) / ok.length) : '?'}`);
    prev = cur.map((c, i) => (Number.isFinite(c) ? c : prev[i]!));
  }
  return parts.join(', ');
}

/** Seconds per round of `rounds` rounds of `width` jobs through the SDK; end-to-wait latencies collected. */
export async function bridgeLoop(d: Daemon, rounds: number, width: number, latencies: number[], hops: Breakdown[] = []): Promise<number[]> {
  let x = 0;
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const wall0 = Date.now();
    const jobs = await Promise.all(Array.from({ length: width }, () => new Job({ tasks: [{ cmd: `echo $((${x} + 1))` }] }, d.client).create()));
    const ends = await Promise.all(jobs.map((j) => j.wait({ timeout: 600 }).then(() => Date.now())));
    const outs = await Promise.all(jobs.map((j) => j.stdout()));
    const read = Date.now();
    perRound.push((performance.now() - t0) / 1000);
    // The critical path: the job whose wait() returned last.
    const last = ends.indexOf(Math.max(...ends));
    hops.push(breakdownOf(d, jobs[last]!.id!, wall0, ends[last]!, read));
    jobs.forEach((j, i) => {
      const row = d.bridge.get(j.id!)!;
      if (row.status !== 'completed') throw new Error(`bench job ${j.id} ended ${row.status}: ${row.statusReason}`);
      if (row.eventAt !== null) latencies.push(ends[i]! - row.eventAt);
    });
    x = Number(outs[0]!.trim());
    if (x !== r + 1) throw new Error(`round ${r}: read ${JSON.stringify(outs[0])}, expected ${r + 1}`);
  }
  return perRound;
}

/** The same loop on the login node with sbatch --wait or srun; seconds per round, timed there. */
async function loginLoop(d: Daemon, how: 'sbatch' | 'srun', rounds: number, width: number): Promise<number> {
  const dir = `${d.lab.scratchRoot}/baseline-${how}`;
  const one =
    how === 'sbatch'
      ? `sbatch --wait -Q -J hpcb-bench -o "${dir}/o.$k" --wrap "echo \\$(( $x + 1 ))" >/dev/null`
      : `srun -Q -J hpcb-bench bash -c "echo \\$(( $x + 1 ))" >"${dir}/o.$k"`;
  const script = `set -e; mkdir -p ${dir}; x=0; t0=$(date +%s.%N)
for r in $(seq 1 ${rounds}); do
  for k in $(seq 1 ${width}); do ${one} & done; wait
  x=$(cat "${dir}/o.1")
done
t1=$(date +%s.%N); [ "$x" = ${rounds} ] || { echo "read $x" >&2; exit 1; }; echo "$t0 $t1"`;
  const [t0, t1] = (await onLogin(d.lab.env, script)).trim().split(' ').map(Number) as [number, number];
  return (t1 - t0) / rounds;
}

/** CPU seconds the follower program (and what it forked) used so far, from /proc on the login node. */
async function followerCpu(d: Daemon): Promise<number> {
  const out = await onLogin(d.lab.env, `for p in $(pgrep -u ${d.lab.env.user} -f '[h]pcb-follow-events ${d.lab.scratchRoot}/'); do cut -d' ' -f14-17 /proc/$p/stat; done; getconf CLK_TCK`);
  const lines = out.trim().split('\n');
  const hz = Number(lines.pop());
  return lines.reduce((s, l) => s + l.split(' ').reduce((a, b) => a + Number(b), 0), 0) / hz;
}

/** CPU seconds one `squeue` of the account costs on the login node (mean of 10). */
async function squeueCpu(d: Daemon): Promise<number> {
  const out = await onLogin(d.lab.env, `for i in $(seq 10); do squeue --user=${d.lab.env.user} >/dev/null; done; times | tail -1`);
  const secs = (s: string) => { const m = /(\d+)m([\d.]+)s/.exec(s)!; return Number(m[1]) * 60 + Number(m[2]); };
  const [u, s] = out.trim().split(/\s+/);
  return (secs(u!) + secs(s!)) / 10;
}

/** 100 short jobs through `d`; scheduler commands during the window, scaled to an hour. */
async function commandsPerHour(d: Daemon, jobs: number, windowSeconds: number): Promise<{ perHour: number; done: number; cpu?: number }> {
  const rec = d.bridge.reconciler('lab')!;
  const c0 = { ...rec.counters };
  const cpu0 = rec.followerStats ? await followerCpu(d) : 0;
  const t0 = performance.now();
  const ids = Array.from({ length: jobs }, () => d.bridge.submit('bench', { tasks: [{ cmd: 'sleep 3' }], resources: { cpus: 1 } }).job.id);
  const deadline = t0 + windowSeconds * 1000;
  while (performance.now() < deadline) await sleep(500);
  const c = rec.counters;
  const n = c.statusCommands - c0.statusCommands + (c.accountingCommands - c0.accountingCommands) + (c.submitCommands - c0.submitCommands);
  const done = ids.filter((id) => d.bridge.get(id)!.status === 'completed').length;
  const cpu = rec.followerStats ? (await followerCpu(d)) - cpu0 : undefined;
  return { perHour: (n / windowSeconds) * 3600, done, ...(cpu !== undefined ? { cpu } : {}) };
}

export async function runLoopBench(opts: BenchOptions & { rounds?: number; windowSeconds?: number; loopRowsOnly?: boolean } = {}): Promise<BenchRow[]> {
  const rounds = opts.rounds ?? (opts.quick ? 3 : 10);
  const windowSeconds = opts.windowSeconds ?? (opts.quick ? 40 : 60);
  const log = opts.log ?? ((s: string) => console.error(s));
  const rows: BenchRow[] = [];
  const d = await daemon({});
  try {
    const latencies: number[] = [];
    for (const width of [1, 20]) {
      log(`loop: ${rounds} rounds of ${width} job(s): bridge, sbatch --wait, srun`);
      await bridgeLoop(d, 1, width, []); // warm-up: connection, follower, first poll
      const hops: Breakdown[] = [];
      const bridge = await bridgeLoop(d, rounds, width, latencies, hops);
      await fillStarts(d, hops);
      log(`loop: ${width} job(s) per round, mean ms per hop of the job whose wait() returned last: ${describeBreakdown(hops)}`);
      const sbatch = await loginLoop(d, 'sbatch', rounds, width);
      const srun = await loginLoop(d, 'srun', rounds, width);
      const med = pct(bridge, 50);
      const note = `median of ${rounds} rounds (p95 ${pct(bridge, 95).toFixed(2)} s); lower is better`;
      rows.push(makeRow(`one round of the loop, ${width} job(s) per round`, med, 's', 'sbatch --wait loop on the login node', sbatch, note));
      rows.push(makeRow(`one round of the loop, ${width} job(s) per round`, med, 's', 'srun loop on the login node', srun, note));
    }
    const healthz = await Promise.all(Array.from({ length: 20 }, async () => { const t = performance.now(); await fetch(`${d.client.url}/api/v1/healthz`).then((r) => r.arrayBuffer()); return performance.now() - t; }));
    const note = `${latencies.length} jobs of the loop rows; from the end record's time stamp (script end) to wait() returning; safety-net poll 60 s; lower is better`;
    rows.push(makeRow('job end to SDK wait() returning, median', pct(latencies, 50), 'ms', 'GET /healthz round trip', pct(healthz, 50), note));
    rows.push(makeRow('job end to SDK wait() returning, p95', pct(latencies, 95), 'ms', 'GET /healthz round trip', pct(healthz, 95), note));

    if (opts.loopRowsOnly) return rows;

    log('loop: follower CPU idle');
    // A follower with no job to follow stops after a minute: a job parked in the DOWN partition
    // keeps it needed (and idle) while it is measured.
    const parked = d.bridge.submit('bench', { tasks: [{ cmd: 'true' }], queue: 'parked' }).job;
    while (d.bridge.get(parked.id)!.state !== 'queued') await sleep(200);
    const idle0 = await followerCpu(d);
    await sleep(30_000);
    const idleCpu = (await followerCpu(d)) - idle0;
    d.bridge.cancel(parked.id);
    const squeue = await squeueCpu(d);
    rows.push(makeRow('event follower CPU on the login node, idle', (idleCpu / 30) * 1000, 'ms/s', 'squeue every 5 s (its CPU per second)', (squeue / 5) * 1000, `30 s; eventCheckSeconds 0.1; one squeue costs ${(squeue * 1000).toFixed(1)} ms CPU; lower is better`));

    log(`loop: 100 jobs, ${windowSeconds} s window, events followed`);
    const ev = await commandsPerHour(d, 100, windowSeconds);
    rows.push(makeRow('event follower CPU on the login node, while 100 jobs end', ((ev.cpu ?? 0) / windowSeconds) * 1000, 'ms/s', 'squeue every 5 s (its CPU per second)', (squeue / 5) * 1000, `${ev.done} of 100 jobs (sleep 3) completed in the ${windowSeconds} s; lower is better`));
    await d.close();

    log(`loop: 100 jobs, ${windowSeconds} s window, polling every 5 s`);
    const p = await daemon({ events: false });
    try {
      const polled = await commandsPerHour(p, 100, windowSeconds);
      rows.push(makeRow('scheduler commands per hour, 100 jobs', ev.perHour, 'per hour', 'the same jobs, event log not followed, poll every 5 s', polled.perHour,
        `status + accounting + submit commands over a ${windowSeconds} s window (100 jobs of sleep 3 on the 8-CPU node), x 3600 / ${windowSeconds}; ${ev.done} and ${polled.done} jobs completed; lower is better`));
    } finally {
      await p.close();
    }
    return rows;
  } finally {
    await d.close().catch(() => undefined);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runLoopBench({ quick: process.argv.includes('--quick'), loopRowsOnly: process.argv.includes('--loop-rows') })));
}
