/**
 * Job throughput and daemon CPU with 0, 10, 100 and 300 open event streams of the same user
 * (a dashboard with tabs, scripts following events): the daemon runs in its own process
 * (bench/streams-child.ts), the streams and 16 job creators in this one. Each size is a fresh
 * daemon; `n` trivial jobs are created and waited for. Baseline: the same with no stream open.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { Client, Job } from '../src/client/index.js';
import { makeRow, type BenchRow } from './common.js';
import { benchTable } from './transport.js';

const CHILD = join(import.meta.dirname, 'streams-child.ts');

async function withStreams(streams: number, n: number): Promise<{ perSecond: number; cpuMsPerJob: number; readsPerJob: number; delivered: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hpcb-bench-streams-'));
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ dataDir })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse(((await lines.next()).value as string) ?? 'null');
  const { url, token } = (await next()) as { url: string; token: string };
  const ask = async () => {
    child.stdin!.write('cpu\n');
    return (await next()) as { cpuMs: number; streamReads: number; streams: number };
  };
  const ac = new AbortController();
  let delivered = 0;
  const open = await Promise.all(
    Array.from({ length: streams }, async () => {
      const res = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
      if (res.status !== 200) throw new Error(`stream refused: ${res.status}`);
      // Wrapped: an async function returning the reader's promise would wait for it to end.
      return {
        reading: (async () => {
          try {
            for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) delivered += c.length;
          } catch {
            // aborted at the end
          }
        })(),
      };
    }),
  );
  const client = new Client({ url, token });
  const before = await ask();
  const t0 = performance.now();
  let made = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (made < n) {
        made++;
        const job = await new Job({ tasks: [{ cmd: 'true' }] }, client).create();
        await job.wait();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const after = await ask();
  ac.abort();
  await Promise.all(open.map((o) => o.reading));
  child.stdin!.write('stop\n');
  await new Promise((r) => child.once('exit', r));
  return { perSecond: n / seconds, cpuMsPerJob: (after.cpuMs - before.cpuMs) / n, readsPerJob: (after.streamReads - before.streamReads) / n, delivered };
}

export async function runStreamsBench(opts: { jobs?: number; sizes?: number[] } = {}): Promise<BenchRow[]> {
  const n = opts.jobs ?? 200;
  const rows: BenchRow[] = [];
  let base: { perSecond: number; cpuMsPerJob: number } | undefined;
  for (const s of opts.sizes ?? [0, 10, 100, 300]) {
    const r = await withStreams(s, n);
    console.error(`streams: ${s} open: ${r.perSecond.toFixed(1)} jobs/s, daemon CPU ${r.cpuMsPerJob.toFixed(1)} ms per job, ${r.readsPerJob.toFixed(2)} stream reads per job, ${r.delivered} bytes delivered`);
    base ??= r;
    rows.push(makeRow(`job throughput on direct with ${s} open event streams of one user (${n} trivial jobs, 16 creators)`, r.perSecond, 'jobs/s', 'the same with no stream open', base.perSecond, 'higher is better; ratio = with streams / without'));
    rows.push(makeRow(`daemon CPU per job with ${s} open event streams of one user (${r.readsPerJob.toFixed(1)} event reads per job)`, r.cpuMsPerJob, 'ms', 'the same with no stream open', base.cpuMsPerJob, 'lower is better; ratio = with streams / without'));
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(benchTable(await runStreamsBench({ jobs: Number(process.argv[2] ?? 200) })));
}
