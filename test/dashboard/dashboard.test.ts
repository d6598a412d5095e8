/**
 * The dashboard in a real browser (Debian's Chromium, headless) against a real daemon on the
 * `direct` adapter: sign-in, counts, live output, cancel, a sweep grid changing colour,
 * a byte-identical download, hostile names shown as text, one user not seeing another's jobs,
 * and a jobs page over 100,000 rows. Screenshots go to .screenshots/ (not committed).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenDashboard, type DashboardListening } from '../../src/api/dashboard.js';
import { parseJobSpec } from '../../src/domain/jobSpec.js';
import { startDaemon, type Daemon } from '../api/helpers.js';
import { builtAssets, haveChromium, launch, shot, signIn, textOf, watchedPage } from './browser.js';

// Browser globals, used only inside page.evaluate callbacks (which run in Chromium, not here).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- their types are the browser's, not Node's
declare const window: any, document: any, sessionStorage: any, localStorage: any, location: any;

const present = haveChromium();
let d: Daemon;
let dash: DashboardListening;
let browser: Browser;
let assets: string;
const started = Date.now();

beforeAll(async () => {
  if (!present) return;
  assets = await builtAssets();
  d = await startDaemon();
  dash = await listenDashboard(d.app, { host: '127.0.0.1', port: 0 }, assets);
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  await d?.close();
  if (present) console.log(`[dashboard] browser tests on direct took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

const until = async <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** A file path in a directory every job account can read; the file appears when the test opens it. */
function gateFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hpcb-gate-'));
  chmodSync(dir, 0o755);
  return join(dir, 'open');
}

/** Shell that waits (a minute at most, so a failed test leaves no job behind) for `gate` to exist. */
function waitFor(gate: string): string {
  return `for n in $(seq 600); do [ -e '${gate}' ] && break; sleep 0.1; done`;
}

describe.skipIf(!present)('dashboard in Chromium (direct)', { timeout: 180_000 }, () => {
  it('serves the page with a strict CSP, nosniff and no framing; the API answers on the same origin', async () => {
    const res = await fetch(`${dash.url}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/); // no inline script
    expect((await fetch(`${dash.url}/api/v1/jobs`, { headers: { authorization: `Bearer ${d.tokens.alice}` } })).status).toBe(200);
    expect((await fetch(`${dash.url}/api/v1/jobs`)).status).toBe(401);
    expect((await fetch(`${dash.url}/../../etc/passwd`)).status).toBe(404);
  });

  it('signs in with the token kept in sessionStorage only, and shows the job counts', async () => {
    const ok = await d.alice.createJob({ name: 'ok', tasks: [{ cmd: 'true' }] });
    const bad = await d.alice.createJob({ name: 'bad', tasks: [{ cmd: 'exit 2' }] });
    const slow = await d.alice.createJob({ name: 'slow', tasks: [{ cmd: 'sleep 60' }] });
    await d.alice.waitJob(ok.id, 60);
    await d.alice.waitJob(bad.id, 60);
    await until('slow running', async () => (await d.alice.getJob(slow.id)).status === 'running');

    const w = await watchedPage(browser);
    await signIn(w.page, dash.url, d.tokens.alice);
    expect(await textOf(w.page, '#user')).toBe('alice');
    const store = await w.page.evaluate(() => ({ session: sessionStorage.getItem('hpcb.token'), cookie: document.cookie, local: localStorage.length, url: location.href }));
    expect(store.session).toBe(d.tokens.alice);
    expect(store.cookie).toBe('');
    expect(store.local).toBe(0);
    expect(store.url).not.toContain(d.tokens.alice);
    await w.page.waitForSelector('#counts [data-status=running]');
    const counts = await w.page.$$eval('#counts a', (as) => as.map((a) => `${a.getAttribute('data-status')}=${a.querySelector('b')?.textContent}`));
    expect(counts).toEqual(expect.arrayContaining(['all=3', 'running=1', 'completed=1', 'failed=1']));
    await w.page.waitForSelector(`tr[data-job="${slow.id}"]`);
    await shot(w.page, 'jobs');
    // Filter by status through the form: only the failed one.
    await w.page.select('#filters select[name=status]', 'failed');
    await w.page.click('#filters button[type=submit]');
    await until('the filtered list', async () => ((await w.page.$$('tr[data-job]')).length === 1 ? true : undefined));
    expect(await w.page.$(`tr[data-job="${bad.id}"]`)).not.toBeNull();

    // Cancel from the job page.
    await w.page.goto(`${dash.url}/#/job/${slow.id}`);
    await w.page.waitForSelector('#cancel:not([disabled])');
    await w.page.click('#cancel');
    const final = await d.alice.waitJob(slow.id, 60);
    expect(['deleted', 'killed']).toContain(final.status);
    await w.page.waitForFunction((st) => document.querySelector('#job-name [data-status]')?.getAttribute('data-status') === st, { timeout: 30_000 }, final.status);
    expect(await w.violations()).toEqual([]);
    await w.page.close();
  });

  it("shows a running job's output as it grows, then its output file downloads byte-identical", async () => {
    // The second half of the output waits for the test to open a gate, so "partial while it
    // runs" does not depend on how fast a loaded machine renders the page.
    const gate = gateFile();
    const job = await d.alice.createJob({
      name: 'grow',
      tasks: [{ cmd: `head -c 300000 /dev/urandom > out.bin; for i in 1 2 3 4; do echo line-$i; done; ${waitFor(gate)}; for i in 5 6 7 8; do echo line-$i; sleep 0.2; done` }],
      outputFiles: ['out.bin'],
    });
    const downloads = mkdtempSync(join(tmpdir(), 'hpcb-dl-'));
    const ctx = await browser.createBrowserContext({ downloadBehavior: { policy: 'allow', downloadPath: downloads } });
    const w = await watchedPage(ctx);
    await signIn(w.page, dash.url, d.tokens.alice);
    await w.page.goto(`${dash.url}/#/job/${job.id}`);
    // Part of the output while the job still runs: it arrived live, not at the end.
    const partial = await until('the first lines', async () => {
      const t = await textOf(w.page, '#stdout');
      return t.includes('line-1') ? t : undefined;
    });
    expect(partial).not.toContain('line-8');
    expect((await d.alice.getJob(job.id)).status).toBe('running');
    await shot(w.page, 'job-running');
    writeFileSync(gate, '');
    await until('all lines', async () => ((await textOf(w.page, '#stdout')).includes('line-8') ? true : undefined));
    expect(await textOf(w.page, '#stdout')).toBe(Array.from({ length: 8 }, (_, i) => `line-${i + 1}\n`).join(''));
    await w.page.waitForSelector('[data-download="out.bin"]', { timeout: 60_000 });
    await w.page.click('[data-download="out.bin"]');
    const file = join(downloads, 'out.bin');
    await until('the download', async () => (existsSync(file) && !readdirSync(downloads).some((f) => f.endsWith('.crdownload')) ? true : undefined));
    expect(readFileSync(file).equals(await d.alice.downloadOutput(job.id, 'out.bin'))).toBe(true);
    expect(readFileSync(file).length).toBe(300000);
    expect(await textOf(w.page, '#timeline')).toContain('running');
    expect(await textOf(w.page, '#script')).toContain('#!');
    await shot(w.page, 'job');
    expect(await w.violations()).toEqual([]);
    await ctx.close();
  });

  it('draws a sweep as a grid whose cells change colour as instances end', async () => {
    // Every instance waits for a gate the test opens once the grid is drawn, then ends after
    // 0-2 s, so the grid is seen before, during and after.
    const gate = gateFile();
    const wf = (await (
      await d.alice.request('POST', '/workflows', {
        json: {
          name: 'sweep',
          jobs: [
            { name: 'prep', tasks: [{ cmd: 'true' }] },
            { name: 'sim', tasks: [{ cmd: `${waitFor(gate)}; sleep $(( (\${x%.*} + \${y%.*}) % 3 ))` }] },
          ],
          dependencies: { prep: ['sim'] },
          factories: [{ type: 'parameterSweep', jobs: ['sim'], parameters: [{ name: 'x', start: 1, end: 4, step: 1 }, { name: 'y', start: 1, end: 3, step: 1 }] }],
        },
      })
    ).json()) as { id: number };
    const w = await watchedPage(browser);
    await signIn(w.page, dash.url, d.tokens.alice);
    await w.page.goto(`${dash.url}/#/workflow/${wf.id}`);
    await w.page.waitForSelector('[data-sweep=sim] rect.cell');
    const cells = () => w.page.$$eval('[data-sweep=sim] rect.cell', (rs) => rs.map((r) => `${r.getAttribute('data-job')}:${r.getAttribute('data-status')}:${r.getAttribute('class')}`));
    const first = await cells();
    expect(first).toHaveLength(12);
    // Seen: a cell not yet completed, later the same cell completed and filled as such.
    const before = first.filter((c) => !c.includes(':completed:'));
    expect(before.length).toBeGreaterThan(0);
    writeFileSync(gate, '');
    let midway: string[] = [];
    const last = await until(
      'every cell completed',
      async () => {
        const now = await cells();
        if (!midway.length && now.some((c) => c.includes(':completed:')) && now.some((c) => !c.includes(':completed:'))) {
          midway = now;
          await shot(w.page, 'sweep-midway');
        }
        return now.every((c) => c.endsWith('f-completed')) ? now : undefined;
      },
      120_000,
    );
    const changed = before.map((c) => c.split(':')[0]).filter((id) => last.some((c) => c.startsWith(`${id}:completed:`)));
    expect(changed.length).toBe(before.length);
    await w.page.waitForSelector('#dag [data-node=sim][data-status=completed]');
    expect(await w.page.$('#wf-timeline svg rect')).not.toBeNull();
    expect(await w.page.$('#wait-run svg rect.f-run')).not.toBeNull();
    await shot(w.page, 'workflow');
    for (const [page, sel] of [
      ['workflows', 'table'],
      ['artifacts', 'h1'],
      ['clusters', 'table'],
    ] as const) {
      await w.page.goto(`${dash.url}/#/${page}`);
      await w.page.waitForSelector(`main ${sel}`);
      await shot(w.page, page);
    }
    expect(await textOf(w.page, 'main table')).toContain('direct');
    expect(await w.violations()).toEqual([]);
    await w.page.close();
  });

  it('shows a job named with a script tag, hostile labels, parameters and output as text; no script runs', async () => {
    const hostile = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
    // The API refuses such a name; a row written by an older daemon (or by hand) can hold one.
    const named = d.bridge.store.createJob({ owner: 'alice', cluster: 'here', spec: { ...parseJobSpec({ tasks: [{ cmd: 'true' }] }), name: hostile } }).job;
    const job = await d.alice.createJob({
      name: 'labels',
      labels: { tag: '<b onmouseover="window.__pwned=3">x</b>' },
      tasks: [{ cmd: `printf '%s\\n' '<script>window.__pwned=4</script>'` }],
    });
    await d.alice.waitJob(job.id, 60);
    const wf = (await (
      await d.alice.request('POST', '/workflows', {
        json: { name: 'zip', jobs: [{ name: 'z', tasks: [{ cmd: 'true' }] }], factories: [{ type: 'zip', jobs: ['z'], parameters: [{ name: 'p', values: ['<svg onload="window.__pwned=5">', '<i>b</i>'] }] }] },
      })
    ).json()) as { id: number };
    const w = await watchedPage(browser);
    await signIn(w.page, dash.url, d.tokens.alice);
    await w.page.waitForSelector(`tr[data-job="${named.id}"]`);
    expect(await textOf(w.page, `tr[data-job="${named.id}"] td.name`)).toBe(hostile);
    await w.page.goto(`${dash.url}/#/job/${named.id}`);
    await until('the name', async () => ((await textOf(w.page, '#job-name')).includes(hostile) ? true : undefined));
    await w.page.goto(`${dash.url}/#/job/${job.id}`);
    await until('the output', async () => ((await textOf(w.page, '#stdout')).includes('__pwned=4') ? true : undefined));
    expect(await textOf(w.page, '#facts')).toContain('tag=<b onmouseover="window.__pwned=3">x</b>');
    await shot(w.page, 'hostile');
    await w.page.goto(`${dash.url}/#/workflow/${wf.id}`);
    await until('the parameters', async () => ((await textOf(w.page, 'main')).includes('p=<svg onload="window.__pwned=5">') ? true : undefined));
    const found = await w.page.evaluate(() => ({
      pwned: window.__pwned ?? null,
      scripts: document.querySelectorAll('script').length,
      imgs: document.querySelectorAll('img').length,
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- DOM elements, typed only in the browser
      handlers: [...document.querySelectorAll('*')].filter((e: any) => [...e.attributes].some((a: any) => a.name.startsWith('on'))).length,
    }));
    expect(found).toEqual({ pwned: null, scripts: 1, imgs: 0, handlers: 0 });
    expect(await w.violations()).toEqual([]);
    await w.page.close();
  });

  it("a second user sees none of the first user's jobs, even by id", async () => {
    const mine = await d.alice.listJobs({ all: true });
    expect(mine.length).toBeGreaterThan(0);
    const ctx = await browser.createBrowserContext();
    const w = await watchedPage(ctx);
    await signIn(w.page, dash.url, d.tokens.bob);
    expect(await textOf(w.page, '#user')).toBe('bob');
    await w.page.waitForSelector('#counts');
    expect(await w.page.$$eval('#counts a', (as) => as.map((a) => `${a.getAttribute('data-status')}=${a.querySelector('b')?.textContent}`))).toEqual(['all=0']);
    expect(await w.page.$$('tr[data-job]')).toHaveLength(0);
    await w.page.goto(`${dash.url}/#/job/${mine[0]!.id}`);
    await until('the refusal', async () => ((await textOf(w.page, 'main')).includes('NOT_FOUND') ? true : undefined));
    expect(await textOf(w.page, 'main')).not.toContain(mine[0]!.name);
    await w.page.goto(`${dash.url}/#/workflows`);
    await w.page.waitForSelector('main h1');
    expect(await w.page.$$('main table tr')).toHaveLength(0);
    await ctx.close();
  });
});

describe.skipIf(!present)('dashboard with 100,000 jobs', { timeout: 300_000 }, () => {
  it('loads the jobs page with one page of rows from the server (figures printed)', async () => {
    const big = await startDaemon({ start: false });
    const bigDash = await listenDashboard(big.app, { host: '127.0.0.1', port: 0 }, assets);
    try {
      const store = big.bridge.store;
      const spec = parseJobSpec({ tasks: [{ cmd: 'true' }] });
      const t0 = Date.now();
      // One job through the store, then 99,999 copies of its row through a second connection
      // (the store keeps its own to itself), each with its name and a label.
      const first = store.createJob({ owner: 'alice', cluster: 'here', spec: { ...spec, name: 'bulk-0', labels: { batch: '0' } } });
      const raw = new Database(store.file);
      try {
        raw.transaction(() => {
          raw
            .prepare(
              `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
               INSERT INTO jobs (owner, cluster, name, spec, state, created_at, updated_at) SELECT owner, cluster, 'bulk-' || n.i, spec, state, created_at, updated_at FROM jobs, n WHERE jobs.id = ?`,
            )
            .run(first.job.id);
          raw.prepare("INSERT OR IGNORE INTO job_labels (job_id, key, value) SELECT id, 'batch', CAST(CAST(substr(name, 6) AS INTEGER) % 10 AS TEXT) FROM jobs WHERE name LIKE 'bulk-%'").run();
          // A realistic mix: most ended.
          raw.prepare("UPDATE jobs SET state = CASE id % 5 WHEN 0 THEN 'failed' WHEN 1 THEN 'accepted' ELSE 'completed' END").run();
        })();
      } finally {
        raw.close();
      }
      const insertMs = Date.now() - t0;

      const a0 = performance.now();
      const list = await fetch(`${big.url}/api/v1/jobs?all=true&limit=50`, { headers: { authorization: `Bearer ${big.tokens.alice}` } });
      const rows = ((await list.json()) as { jobs: unknown[] }).jobs.length;
      const apiMs = performance.now() - a0;
      const c0 = performance.now();
      await fetch(`${big.url}/api/v1/jobs/counts`, { headers: { authorization: `Bearer ${big.tokens.alice}` } });
      const countsMs = performance.now() - c0;
      expect(rows).toBe(50);

      const w = await watchedPage(browser);
      await signIn(w.page, bigDash.url, big.tokens.alice);
      await w.page.goto(`${bigDash.url}/#/clusters`);
      await w.page.waitForSelector('main table');
      w.requests.length = 0;
      const p0 = performance.now();
      await w.page.goto(`${bigDash.url}/#/jobs`);
      await w.page.waitForFunction(() => document.querySelectorAll('tr[data-job]').length === 50);
      const pageMs = performance.now() - p0;
      const total = await w.page.$eval('#counts [data-status=all] b', (b) => b.textContent);
      expect(total).toBe('100000');
      const lists = w.requests.filter((u) => /\/api\/v1\/jobs(\?|$)/.test(u));
      expect(lists).toHaveLength(1);
      expect(new URL(lists[0]!).searchParams.get('limit')).toBe('50');
      // The next page is one more request of 50, below the last id shown.
      await w.page.click('#older');
      await w.page.waitForFunction(() => document.querySelectorAll('tr[data-job]').length === 50 && document.querySelector('tr[data-job]')?.getAttribute('data-job') === '99950');
      await shot(w.page, 'jobs-100k');
      console.log(
        `[dashboard] 100,000 jobs: inserted in ${insertMs} ms; GET /jobs (50 rows) ${apiMs.toFixed(0)} ms, GET /jobs/counts ${countsMs.toFixed(0)} ms; jobs page to 50 rows drawn ${pageMs.toFixed(0)} ms`,
      );
      await w.page.close();
    } finally {
      await bigDash.close();
      await big.close();
    }
  });
});
