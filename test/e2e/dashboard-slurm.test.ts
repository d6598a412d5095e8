/**
 * The dashboard in Chromium against a daemon on the real test cluster (Slurm over SSH): a job's
 * output appearing while it runs on the compute node, its native id and accounting, a
 * byte-identical download, a sweep (one Slurm job array) whose grid turns green as elements
 * end, and cancel. Screenshots go to .screenshots/slurm-*.png.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenDashboard, type DashboardListening } from '../../src/api/dashboard.js';
import { startDaemon, type Daemon } from '../api/helpers.js';
import { builtAssets, haveChromium, launch, shot, signIn, textOf, watchedPage } from '../dashboard/browser.js';
import { labSettings, onLogin, until } from './support/lab.js';

const present = haveChromium();
let lab: ReturnType<typeof labSettings>;
let d: Daemon;
let dash: DashboardListening;
let browser: Browser;
const started = Date.now();

beforeAll(async () => {
  if (!present) return;
  lab = labSettings({ pollIntervalSeconds: 1 });
  d = await startDaemon({ settings: lab.settings });
  dash = await listenDashboard(d.app, { host: '127.0.0.1', port: 0 }, await builtAssets());
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  await d?.close();
  if (lab) {
    await onLogin(lab.env, `rm -rf ${lab.scratchRoot}`).catch(() => undefined);
    rmSync(lab.dataDir, { recursive: true, force: true });
  }
  if (present) console.log(`[dashboard] browser tests on Slurm took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

describe.skipIf(!present)('dashboard in Chromium on Slurm', () => {
  it('follows a Slurm job live, shows its native id, downloads its output byte-identical, and cancels another', async () => {
    const job = await d.alice.createJob({
      name: 'slurm-grow',
      tasks: [{ cmd: 'head -c 200000 /dev/urandom > out.bin; for i in $(seq 1 10); do echo tick-$i; sleep 1; done' }],
      outputFiles: ['out.bin'],
      resources: { cpus: 1, memory: 1, walltime: 5 },
    });
    const downloads = mkdtempSync(join(tmpdir(), 'hpcb-dl-'));
    const ctx = await browser.createBrowserContext({ downloadBehavior: { policy: 'allow', downloadPath: downloads } });
    const w = await watchedPage(ctx);
    await signIn(w.page, dash.url, d.tokens.alice);
    await w.page.goto(`${dash.url}/#/job/${job.id}`);
    const partial = await until(
      'the first ticks',
      async () => {
        const t = await textOf(w.page, '#stdout');
        return t.includes('tick-1') ? t : undefined;
      },
      180_000,
    );
    expect(partial).not.toContain('tick-10');
    const native = (await d.alice.getJob(job.id)).nativeId;
    expect(native).toMatch(/^\d+/);
    await until('the native id on the page', async () => ((await textOf(w.page, '#facts')).includes(native!) ? true : undefined), 30_000);
    await shot(w.page, 'slurm-job-running');
    await until('every tick', async () => ((await textOf(w.page, '#stdout')).includes('tick-10') ? true : undefined), 120_000);
    await w.page.waitForSelector('[data-download="out.bin"]', { timeout: 120_000 });
    await w.page.click('[data-download="out.bin"]');
    const file = join(downloads, 'out.bin');
    await until('the download', () => (existsSync(file) && !readdirSync(downloads).some((f) => f.endsWith('.crdownload')) ? true : undefined), 30_000);
    expect(readFileSync(file).equals(await d.alice.downloadOutput(job.id, 'out.bin'))).toBe(true);
    await shot(w.page, 'slurm-job');

    const slow = await d.alice.createJob({ name: 'slurm-slow', tasks: [{ cmd: 'sleep 300' }], resources: { cpus: 1, memory: 1, walltime: 10 } });
    await w.page.goto(`${dash.url}/#/job/${slow.id}`);
    await until('the job queued or running', async () => (['idle', 'running'].includes((await d.alice.getJob(slow.id)).status) ? true : undefined), 120_000);
    await w.page.waitForSelector('#cancel:not([disabled])');
    await w.page.click('#cancel');
    const final = await d.alice.waitJob(slow.id, 120);
    expect(['deleted', 'killed']).toContain(final.status);
    await w.page.waitForFunction((st: string) => document.querySelector('#job-name [data-status]')?.getAttribute('data-status') === st, { timeout: 30_000 }, final.status);
    expect(await w.violations()).toEqual([]);
    await ctx.close();
  });

  it('draws a Slurm sweep as a grid that turns green as its elements end', async () => {
    const wf = (await (
      await d.alice.request('POST', '/workflows', {
        json: {
          name: 'slurm-sweep',
          jobs: [{ name: 'sim', tasks: [{ cmd: 'sleep $(( ${n%.*} % 3 + 2 ))' }], resources: { cpus: 1, memory: 1, walltime: 5 } }],
          factories: [{ type: 'parameterSweep', jobs: ['sim'], parameters: [{ name: 'n', start: 1, end: 8, step: 1 }] }],
        },
      })
    ).json()) as { id: number };
    const w = await watchedPage(browser);
    await signIn(w.page, dash.url, d.tokens.alice);
    await w.page.goto(`${dash.url}/#/workflow/${wf.id}`);
    await w.page.waitForSelector('[data-sweep=sim] rect.cell');
    const cells = () => w.page.$$eval('[data-sweep=sim] rect.cell', (rs) => rs.map((r) => r.getAttribute('data-status') ?? ''));
    const seen = new Set<string>();
    await until(
      'every element completed',
      async () => {
        const now = await cells();
        now.forEach((s) => seen.add(s));
        return now.length === 8 && now.every((s) => s === 'completed') ? true : undefined;
      },
      240_000,
      300,
    );
    // The grid showed some state before completed: it changed colour while the page was open.
    expect([...seen].filter((s) => s !== 'completed').length).toBeGreaterThan(0);
    await shot(w.page, 'slurm-sweep');
    expect(await w.violations()).toEqual([]);
    await w.page.close();
  });
});

// Browser globals, used only inside page callbacks (which run in Chromium).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the browser's document, used only inside page.evaluate
declare const document: any;
