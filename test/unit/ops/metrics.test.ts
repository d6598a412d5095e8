/**
 * /metrics through the real HTTP server, parsed by a strict Prometheus text-format parser
 * (./promParser.ts), and /healthz's per-cluster detail.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { call, startDaemon, type Daemon } from '../../api/helpers.js';
import { MetricsWriter } from '../../../src/ops/metrics.js';
import { parsePrometheusText, type Family } from './promParser.js';

let d: Daemon | undefined;
afterEach(async () => {
  await d?.close();
  d = undefined;
});

const value = (f: Family | undefined, labels: Record<string, string>) =>
  f?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('/metrics', () => {
  it('serves the text format with jobs, submissions, polls, staging and API latency', async () => {
    // The jobs end by their event records; the safety-net poll runs at the fast interval here
    // so that the poll counters have something to show. A poll only runs while a job is in the
    // queue, and trivial jobs can come and go between two polls: one job runs for a second.
    d = await startDaemon({ safetyPollSeconds: 0.2 });
    const ok = await d.alice.createJob({ tasks: [{ cmd: 'echo hi > out.txt' }], outputFiles: ['out.txt'] });
    const bad = await d.alice.createJob({ tasks: [{ cmd: 'sleep 1; exit 2' }] });
    expect((await d.alice.waitJob(ok.id, 25)).status).toBe('completed');
    expect((await d.alice.waitJob(bad.id, 25)).status).toBe('failed');
    await call(d, 'GET', '/jobs/999999');

    const res = await call(d, 'GET', '/metrics', { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheusText(res.text);

    expect(fams.get('hpcb_jobs')!.type).toBe('gauge');
    expect(value(fams.get('hpcb_jobs'), { cluster: 'here', status: 'completed' })).toBe(1);
    expect(value(fams.get('hpcb_jobs'), { cluster: 'here', status: 'failed' })).toBe(1);
    expect(value(fams.get('hpcb_jobs'), { cluster: 'here', status: 'running' })).toBe(0);
    expect(fams.get('hpcb_jobs_submitted_total')!.type).toBe('counter');
    expect(value(fams.get('hpcb_jobs_submitted_total'), { cluster: 'here' })).toBe(2);
    expect(value(fams.get('hpcb_polls_total'), { cluster: 'here' })).toBeGreaterThan(0);
    expect(value(fams.get('hpcb_poll_failures_total'), { cluster: 'here' })).toBe(0);
    const polls = fams.get('hpcb_poll_duration_seconds')!;
    expect(polls.type).toBe('histogram');
    // Every answered poll is one observation: the histogram's count matches the polls counter
    // (read from the same scrape, so no poll can land in between).
    expect(value(polls, { cluster: 'here', le: '+Inf' })).toBe(value(fams.get('hpcb_polls_total'), { cluster: 'here' }));
    expect(value(fams.get('hpcb_last_poll_duration_seconds'), { cluster: 'here' })).toBeGreaterThanOrEqual(0);
    expect(value(fams.get('hpcb_cluster_up'), { cluster: 'here' })).toBe(1);
    expect(value(fams.get('hpcb_staged_bytes_total'), { direction: 'out' })).toBeGreaterThan(0);
    // The local transport has no SSH connection: the family is declared, with no series.
    expect(fams.get('hpcb_ssh_reconnects_total')!.samples).toEqual([]);

    const http = fams.get('hpcb_http_request_duration_seconds')!;
    expect(http.type).toBe('histogram');
    // Route templates, never raw paths with ids in them.
    expect(value(http, { method: 'GET', route: '/jobs/{id}', code: '404', le: '+Inf' })).toBe(1);
    expect(http.samples.some((s) => s.labels.route?.includes('999999'))).toBe(false);
    expect(value(http, { method: 'POST', route: '/jobs', code: '201', le: '+Inf' })).toBe(2);
  });

  it('escapes label values and help text so the parser reads them back', () => {
    const w = new MetricsWriter();
    w.family('x_total', 'counter', 'help with \\ and\nnewline');
    w.sample('x_total', { cluster: 'a"b\\c\nd' }, 3);
    const f = parsePrometheusText(w.text()).get('x_total')!;
    expect(f.help).toBe('help with \\ and\nnewline');
    expect(f.samples[0]!.labels.cluster).toBe('a"b\\c\nd');
  });

  it('the test parser rejects malformed expositions', () => {
    expect(() => parsePrometheusText('a 1')).toThrow(/newline/);
    expect(() => parsePrometheusText('# TYPE a counter\na{x="1} 1\n')).toThrow();
    expect(() => parsePrometheusText('# TYPE a counter\na 1\na 2\n')).toThrow(/duplicate/);
    expect(() => parsePrometheusText('b 1\n')).toThrow(/outside/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n')).toThrow(/cumulative|\+Inf/);
  });
});

describe('/healthz', () => {
  it('says which clusters are reachable', async () => {
    d = await startDaemon();
    const job = await d.alice.createJob({ tasks: [{ cmd: 'true' }] });
    await d.alice.waitJob(job.id, 25);
    const h = await call(d, 'GET', '/healthz', { token: null });
    expect(h.json).toMatchObject({ status: 'ok', clusters: [{ name: 'here', state: 'ok', reachable: true, lastError: null }] });
  });
});
