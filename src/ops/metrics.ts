/**
 * Prometheus metrics in the text exposition format (version 0.0.4), written by hand.
 *
 * Why no client library: the format is a few line rules, and almost everything here is read at
 * scrape time from state the daemon already keeps (the jobs table, the reconcilers' counters and
 * health, the SSH transports' and staging's stats). Only API latency is observed as it happens,
 * into one fixed-bucket histogram. That keeps a dependency out of the daemon, and a scrape costs
 * one GROUP BY over the jobs table.
 */
import type { TransportPool } from '../transport/pool.js';
import { Histogram } from '../domain/histogram.js';
import { publicStatus } from '../domain/state.js';
import type { Bridge } from '../bridge.js';

/** Latency buckets in seconds: most calls take milliseconds; long-polls up to minutes. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

type Labels = Record<string, string>;

interface LabelledHistogram {
  labels: Labels;
  h: Histogram;
}

/** What other parts report at scrape time (maintenance registers its last runs here). */
export type MetricSource = (out: MetricsWriter) => void;

export class Metrics {
  private readonly requests = new Map<string, LabelledHistogram>();
  private readonly sources: MetricSource[] = [];

  /** Record one finished API request. `route` is the route template, never the raw path (ids would explode the series). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, code: String(status) };
    const key = JSON.stringify(labels);
    let entry = this.requests.get(key);
    if (!entry) {
      entry = { labels, h: new Histogram(LATENCY_BUCKETS) };
      this.requests.set(key, entry);
    }
    entry.h.observe(seconds);
  }

  addSource(source: MetricSource): void {
    this.sources.push(source);
  }

  /** The whole exposition for a scrape. */
  render(bridge: Bridge): string {
    const w = new MetricsWriter();

    // Jobs by public status and cluster, every status present so dashboards see zeros.
    const rows = bridge.store.jobCounts();
    const byKey = new Map<string, number>();
    const statuses = ['pending', 'idle', 'running', 'completed', 'failed', 'killed', 'deleted'];
    for (const c of bridge.settings.clusters) for (const s of statuses) byKey.set(`${c.name}\0${s}`, 0);
    for (const r of rows) {
      const k = `${r.cluster}\0${publicStatus(r.state)}`;
      byKey.set(k, (byKey.get(k) ?? 0) + r.n);
    }
    w.family('hpcb_jobs', 'gauge', 'Jobs in the database by cluster and public status.');
    for (const [k, n] of byKey) {
      const [cluster, status] = k.split('\0') as [string, string];
      w.sample('hpcb_jobs', { cluster, status }, n);
    }

    const health = new Map(bridge.health().map((h) => [h.cluster, h]));
    const perCluster: { name: string; counters: Record<string, number>; h: ReturnType<Bridge['health']>[number] | undefined; ssh: SshStatsLike | undefined }[] = [];
    for (const c of bridge.settings.clusters) {
      const rec = bridge.reconciler(c.name);
      const t = rec?.rt.transport as unknown as { stats?: () => unknown } | undefined;
      const stats = typeof t?.stats === 'function' ? t.stats() : undefined;
      perCluster.push({ name: c.name, counters: { ...(rec?.counters ?? {}) }, h: health.get(c.name), ssh: isSshStats(stats) ? stats : undefined });
    }

    w.family('hpcb_cluster_up', 'gauge', '1 when the last status poll of the cluster succeeded, 0 when it is degraded, -1 before the first poll.');
    for (const p of perCluster) w.sample('hpcb_cluster_up', { cluster: p.name }, p.h?.state === 'ok' ? 1 : p.h?.state === 'degraded' ? 0 : -1);
    w.family('hpcb_cluster_consecutive_failures', 'gauge', 'Failed steps in a row against the cluster (0 when healthy).');
    for (const p of perCluster) w.sample('hpcb_cluster_consecutive_failures', { cluster: p.name }, p.h?.consecutiveFailures ?? 0);

    const counter = (name: string, help: string, key: string) => {
      w.family(name, 'counter', help);
      for (const p of perCluster) w.sample(name, { cluster: p.name }, p.counters[key] ?? 0);
    };
    counter('hpcb_jobs_submitted_total', 'Jobs handed to the scheduler (each attempt counts).', 'jobsSubmitted');
    counter('hpcb_submit_commands_total', 'Batched submit commands run on the cluster.', 'submitCommands');
    counter('hpcb_polls_total', 'Status polls that succeeded.', 'polls');
    counter('hpcb_poll_failures_total', 'Status polls that failed (the cluster is then degraded).', 'pollFailures');
    counter('hpcb_accounting_commands_total', 'Accounting queries run to decide outcomes.', 'accountingCommands');

    w.family('hpcb_poll_duration_seconds', 'histogram', 'Duration of the status polls of the cluster that answered (one scheduler command for all its jobs).');
    for (const c of bridge.settings.clusters) {
      const rec = bridge.reconciler(c.name);
      if (rec) w.histogram('hpcb_poll_duration_seconds', { cluster: c.name }, rec.pollSeconds);
    }
    w.family('hpcb_last_poll_duration_seconds', 'gauge', 'Duration of the most recent status poll of the cluster.');
    for (const p of perCluster) if (p.h?.lastPollMs != null) w.sample('hpcb_last_poll_duration_seconds', { cluster: p.name }, p.h.lastPollMs / 1000);
    w.family('hpcb_cluster_last_ok_timestamp_seconds', 'gauge', 'When the cluster last answered a poll (Unix time).');
    for (const p of perCluster) if (p.h?.lastOkAt != null) w.sample('hpcb_cluster_last_ok_timestamp_seconds', { cluster: p.name }, p.h.lastOkAt / 1000);

    const pools = bridge.settings.clusters.map((c) => ({ name: c.name, s: (bridge.reconciler(c.name)?.rt as { pool?: TransportPool } | undefined)?.pool?.stats() }));
    w.family('hpcb_transports_open', 'gauge', 'Transports (SSH connections) open now, one per identity with recent work.');
    for (const p of pools) if (p.s) w.sample('hpcb_transports_open', { cluster: p.name }, p.s.open);
    w.family('hpcb_transports_opened_total', 'counter', 'Transports opened, one per identity each time it had work after being idle.');
    for (const p of pools) if (p.s) w.sample('hpcb_transports_opened_total', { cluster: p.name }, p.s.opened);
    w.family('hpcb_transports_idle_closed_total', 'counter', 'Transports closed after their idle period.');
    for (const p of pools) if (p.s) w.sample('hpcb_transports_idle_closed_total', { cluster: p.name }, p.s.idleClosed);

    const ssh = perCluster.filter((p) => p.ssh);
    w.family('hpcb_ssh_connected', 'gauge', 'Whether the SSH connection to the cluster is open.');
    for (const p of ssh) w.sample('hpcb_ssh_connected', { cluster: p.name }, p.ssh!.connected ? 1 : 0);
    w.family('hpcb_ssh_reconnects_total', 'counter', 'SSH connections opened after the first one.');
    for (const p of ssh) w.sample('hpcb_ssh_reconnects_total', { cluster: p.name }, p.ssh!.reconnects);
    w.family('hpcb_ssh_connect_failures_total', 'counter', 'SSH connection attempts that failed.');
    for (const p of ssh) w.sample('hpcb_ssh_connect_failures_total', { cluster: p.name }, p.ssh!.connectFailures);
    w.family('hpcb_ssh_channels_in_use', 'gauge', 'SSH channels open on the connection (bounded by the channel budget).');
    for (const p of ssh) w.sample('hpcb_ssh_channels_in_use', { cluster: p.name }, p.ssh!.channelsInUse ?? 0);

    const st = bridge.staging.stats();
    w.family('hpcb_staged_bytes_total', 'counter', 'Bytes moved by staging: artifacts uploaded to cluster caches (in), URL artifacts fetched (fetch), outputs and logs brought back (out).');
    w.sample('hpcb_staged_bytes_total', { direction: 'in' }, st.artifactBytesUploaded);
    w.sample('hpcb_staged_bytes_total', { direction: 'fetch' }, st.urlBytesFetched);
    w.sample('hpcb_staged_bytes_total', { direction: 'out' }, st.outputBytesDownloaded);
    w.family('hpcb_artifact_cache_hits_total', 'counter', 'Stage-ins that found the artifact already in the cluster cache.');
    w.sample('hpcb_artifact_cache_hits_total', {}, st.cacheHits);

    w.family('hpcb_http_request_duration_seconds', 'histogram', 'API request latency by method, route template and status code.');
    for (const e of this.requests.values()) w.histogram('hpcb_http_request_duration_seconds', e.labels, e.h);

    for (const s of this.sources) s(w);
    return w.text();
  }
}

interface SshStatsLike {
  connected: boolean;
  reconnects: number;
  connectFailures: number;
  channelsInUse?: number;
}

function isSshStats(s: unknown): s is SshStatsLike {
  return !!s && typeof s === 'object' && typeof (s as SshStatsLike).reconnects === 'number' && typeof (s as SshStatsLike).connected === 'boolean';
}

/** Builds the text: HELP and TYPE once per family, then its samples, escaped per the format. */
export class MetricsWriter {
  private readonly lines: string[] = [];
  private readonly declared = new Set<string>();

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    if (this.declared.has(name)) throw new Error(`metric family ${name} declared twice`);
    this.declared.add(name);
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Labels, value: number): void {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
      .join(',');
    this.lines.push(`${name}${l ? `{${l}}` : ''} ${formatValue(value)}`);
  }

  /** The samples of one histogram series: cumulative buckets, +Inf, sum and count. */
  histogram(name: string, labels: Labels, h: Histogram): void {
    h.buckets.forEach((b, i) => this.sample(`${name}_bucket`, { ...labels, le: String(b) }, h.counts[i]!));
    this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, h.count);
    this.sample(`${name}_sum`, labels, h.sum);
    this.sample(`${name}_count`, labels, h.count);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
