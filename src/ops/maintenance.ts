/**
 * Scheduled maintenance: what keeps a daemon that runs for a year from filling the cluster's
 * scratch and its own disk.
 *
 *  - scratch:    job directories on each cluster's scratch, removed once their job has been
 *                terminal for `scratchRetentionDays` (one batched `rm -rf` per cluster).
 *  - store:      collected outputs and logs removed `outputRetentionDays` after their job ended;
 *                artifact bytes that no name and no active job refers to removed once they are
 *                older than `artifactRetentionDays`.
 *  - backup:     an online SQLite backup into <dataDir>/backups/, then a WAL checkpoint.
 *  - diskReport: free space where the daemon writes and on each cluster's scratch.
 *
 * Each task is a plain async method (tests call them directly) and `start()` schedules them with
 * node-cron from `daemon.maintenance.schedules`. Every run logs exactly one line saying what it
 * did, so `journalctl -u hpc-bridge | grep maintenance` is the audit trail.
 */
import { chmodSync, existsSync, mkdirSync, promises as fsp, readdirSync, renameSync, rmSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import cron, { type ScheduledTask } from 'node-cron';
import { shellQuote } from '../domain/quote.js';
import { runtimeForJob, type ClusterRuntime } from '../engine/cluster.js';
import { jobDirFor } from '../jobdir/layout.js';
import type { Logger } from '../logging.js';
import type { Settings } from '../settings/schema.js';
import { ownerDir, SHA256_HEX } from '../staging/names.js';
import type { Store } from '../store/store.js';

const DAY_MS = 86_400_000;
/** Paths per remote `rm` command: far below ARG_MAX, so a backlog never makes the command fail. */
const RM_BATCH = 500;

export interface MaintenanceDeps {
  store: Store;
  settings: Settings;
  log: Logger;
  /** The runtime (transport, scratch root) of a configured cluster. */
  runtime(cluster: string): ClusterRuntime | undefined;
  now?: () => number;
}

export interface ScratchReport {
  removed: number;
  /** Jobs whose cluster could not be reached, or is no longer configured; retried next run. */
  deferred: number;
  clusters: Record<string, { removed: number; error?: string }>;
}

export interface StoreReport {
  outputJobs: number;
  outputFiles: number;
  outputBytes: number;
  artifactBlobs: number;
  artifactBytes: number;
}

export interface BackupReport {
  file: string;
  bytes: number;
  walCheckpoint: { busy: number; log: number; checkpointed: number };
  pruned: number;
}

export interface DiskReport {
  dataDir: { path: string; freeBytes: number; totalBytes: number; databaseBytes: number; artifactBytes: number; outputBytes: number; backupBytes: number };
  clusters: Record<string, { scratchRoot: string; freeBytes?: number; totalBytes?: number; error?: string }>;
}

export type MaintenanceTask = 'scratch' | 'store' | 'backup' | 'diskReport';

export class Maintenance {
  private readonly now: () => number;
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Set<Promise<unknown>>();
  /** The last report of each task (the metrics endpoint and tests read it). */
  readonly last: Partial<Record<MaintenanceTask, { at: number; ok: boolean }>> = {};

  constructor(private readonly deps: MaintenanceDeps) {
    this.now = deps.now ?? Date.now;
  }

  private get cfg() {
    return this.deps.settings.daemon.maintenance;
  }

  private get dataDir() {
    return this.deps.settings.daemon.dataDir;
  }

  /** Schedule every task whose schedule is not `off`. */
  start(): void {
    const run: Record<MaintenanceTask, () => Promise<unknown>> = {
      scratch: () => this.cleanScratch(),
      store: () => this.expireStore(),
      backup: () => this.backup(),
      diskReport: () => this.diskReport(),
    };
    for (const [name, fn] of Object.entries(run) as [MaintenanceTask, () => Promise<unknown>][]) {
      const expr = this.cfg.schedules[name];
      if (expr === 'off') continue;
      const task = cron.schedule(expr, () => this.track(name, fn), { name: `hpc-bridge-${name}`, noOverlap: true });
      // A pending cron timer must not keep the process alive once the daemon is stopping.
      task.unref();
      this.tasks.push(task);
    }
  }

  /** Stop the schedules and wait for a task that is running to finish (it writes the database). */
  async stop(): Promise<void> {
    await Promise.all(this.tasks.splice(0).map((t) => t.destroy()));
    await Promise.allSettled([...this.running]);
  }

  private track(name: MaintenanceTask, fn: () => Promise<unknown>): Promise<unknown> {
    const p = fn()
      .then(
        () => (this.last[name] = { at: this.now(), ok: true }),
        (e: unknown) => {
          this.last[name] = { at: this.now(), ok: false };
          this.deps.log.error({ task: name, err: e instanceof Error ? e.message : String(e) }, `maintenance ${name} failed`);
        },
      )
      .finally(() => this.running.delete(p));
    this.running.add(p);
    return p;
  }

  // ------------------------------------------------------------------ scratch

  /**
   * Remove the scratch directories of jobs that have been terminal since before the cutoff.
   * Only job ids come from the database; each path is rebuilt from the cluster's scratch root and
   * checked to lie directly under `<scratchRoot>/jobs/` before it is quoted into the command.
   */
  async cleanScratch(): Promise<ScratchReport> {
    const cutoff = this.now() - this.cfg.scratchRetentionDays * DAY_MS;
    const tables = this.deps.store.maintenance;
    const rows = tables.scratchCandidates(cutoff);
    // Each job's directory is removed as the account it ran as: no other account may enter it.
    const byCluster = new Map<string, { cluster: string; clusterUser: string | null; ids: number[] }>();
    for (const r of rows) {
      const k = `${r.cluster}\0${r.clusterUser ?? ''}`;
      const g = byCluster.get(k) ?? { cluster: r.cluster, clusterUser: r.clusterUser, ids: [] };
      g.ids.push(r.id);
      byCluster.set(k, g);
    }
    const instance = this.deps.store.instanceId();
    const report: ScratchReport = { removed: 0, deferred: 0, clusters: {} };

    for (const { cluster, clusterUser, ids } of byCluster.values()) {
      const base = this.deps.runtime(cluster);
      if (!base) {
        report.deferred += ids.length;
        report.clusters[cluster] = { removed: 0, error: 'cluster is not configured' };
        continue;
      }
      const rt = runtimeForJob(base, { clusterUser });
      const before = report.clusters[cluster]?.removed ?? 0;
      const jobsRoot = posix.join(rt.scratchRoot, 'jobs') + '/';
      let removed = 0;
      try {
        for (let i = 0; i < ids.length; i += RM_BATCH) {
          // Re-read the state right before the command: nothing leaves a terminal state today,
          // but this is the one place where a mistake would delete a running job's files.
          const batch = tables.stillTerminal(ids.slice(i, i + RM_BATCH));
          const paths = batch.map((id) => confinedJobDir(jobsRoot, jobDirFor(rt.scratchRoot, instance, id)));
          if (paths.length === 0) continue;
          const script = `rm -rf -- ${paths.map(shellQuote).join(' ')}`;
          const res = await rt.transport.exec(['bash', '-c', script], { timeoutMs: 600_000 });
          if (res.exitCode !== 0) throw new Error(`rm exited ${res.exitCode}: ${res.stderr.trim().slice(0, 500)}`);
          tables.markScratchRemoved(batch, this.now());
          removed += batch.length;
        }
        report.clusters[cluster] = { ...report.clusters[cluster], removed: before + removed };
      } catch (e) {
        report.clusters[cluster] = { removed: before + removed, error: e instanceof Error ? e.message : String(e) };
        report.deferred += ids.length - removed;
      }
      report.removed += removed;
    }
    this.deps.log.info({ task: 'scratch', retentionDays: this.cfg.scratchRetentionDays, ...report }, `maintenance scratch: removed ${report.removed} job directories, ${report.deferred} deferred`);
    return report;
  }

  // ------------------------------------------------------------------ daemon store

  async expireStore(): Promise<StoreReport> {
    const report: StoreReport = { outputJobs: 0, outputFiles: 0, outputBytes: 0, artifactBlobs: 0, artifactBytes: 0 };
    const tables = this.deps.store.maintenance;

    // Outputs: the rows stay (as "expired" problems the user can read); the bytes go.
    const outCutoff = this.now() - this.cfg.outputRetentionDays * DAY_MS;
    const reason = `expired: removed ${this.cfg.outputRetentionDays} days after the job ended`;
    for (const id of tables.outputJobsEndedBefore(outCutoff)) {
      // Rows first, then files: a crash in between leaves unreferenced files (removed again
      // next run), never a row that promises bytes which are gone.
      const s = tables.expireOutputs(id, reason);
      rmSync(join(this.dataDir, 'outputs', String(id)), { recursive: true, force: true });
      report.outputJobs++;
      report.outputFiles += s.files;
      report.outputBytes += s.bytes;
    }
    // Output folders left by a crash between the two steps above.
    const outputsRoot = join(this.dataDir, 'outputs');
    if (existsSync(outputsRoot)) {
      for (const name of readdirSync(outputsRoot)) {
        if (!/^\d+$/.test(name)) continue;
        if (tables.outputsRemovable(Number(name), outCutoff)) rmSync(join(outputsRoot, name), { recursive: true, force: true });
      }
    }

    // Artifact bytes: referenced while a name points at them or an active job resolved to them.
    const artCutoff = this.now() - this.cfg.artifactRetentionDays * DAY_MS;
    const referenced = new Set<string>();
    for (const r of tables.referencedBlobs()) referenced.add(`${ownerDir(r.owner)}/${r.sha256}`);
    const artRoot = join(this.dataDir, 'artifacts');
    for (const owner of existsSync(artRoot) ? readdirSync(artRoot) : []) {
      const blobs = join(artRoot, owner, 'blobs');
      if (!existsSync(blobs)) continue;
      for (const sha of readdirSync(blobs)) {
        if (!SHA256_HEX.test(sha) || referenced.has(`${owner}/${sha}`)) continue;
        const p = join(blobs, sha);
        const st = statSync(p, { throwIfNoEntry: false });
        // mtime is when the bytes were renamed into place: a blob just uploaded, whose name row
        // is about to be written, is always younger than any retention.
        if (!st || st.mtimeMs >= artCutoff) continue;
        unlinkSync(p);
        report.artifactBlobs++;
        report.artifactBytes += st.size;
      }
    }
    this.deps.log.info(
      { task: 'store', outputRetentionDays: this.cfg.outputRetentionDays, artifactRetentionDays: this.cfg.artifactRetentionDays, ...report },
      `maintenance store: expired outputs of ${report.outputJobs} jobs (${report.outputBytes} bytes), ${report.artifactBlobs} unreferenced artifact blobs (${report.artifactBytes} bytes)`,
    );
    return report;
  }

  // ------------------------------------------------------------------ backup

  /** An online, consistent copy of the database (readers and writers keep going meanwhile). */
  async backup(): Promise<BackupReport> {
    const dir = join(this.dataDir, 'backups');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stamp = new Date(this.now()).toISOString().replace(/[:.]/g, '-');
    const file = join(dir, `hpc-bridge-${stamp}.db`);
    const tmp = `${file}.partial`;
    rmSync(tmp, { force: true });
    await this.deps.store.maintenance.backupTo(tmp);
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
    // After the copy: the WAL's pages are in the main file, so it can be truncated to zero.
    const walCheckpoint = this.deps.store.maintenance.checkpoint();
    const backups = readdirSync(dir)
      .filter((f) => /^hpc-bridge-.*\.db$/.test(f))
      .sort();
    const excess = backups.slice(0, Math.max(0, backups.length - this.cfg.backupsKept));
    for (const f of excess) rmSync(join(dir, f), { force: true });
    const report: BackupReport = { file, bytes: statSync(file).size, walCheckpoint, pruned: excess.length };
    this.deps.log.info({ task: 'backup', ...report }, `maintenance backup: ${file} (${report.bytes} bytes), WAL checkpointed, ${report.pruned} old backups removed`);
    return report;
  }

  // ------------------------------------------------------------------ disk report

  async diskReport(): Promise<DiskReport> {
    const fsInfo = statfsSync(this.dataDir);
    const dbBytes = ['hpc-bridge.db', 'hpc-bridge.db-wal', 'hpc-bridge.db-shm'].reduce((n, f) => n + (statSync(join(this.dataDir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
    const report: DiskReport = {
      dataDir: {
        path: this.dataDir,
        freeBytes: fsInfo.bavail * fsInfo.bsize,
        totalBytes: fsInfo.blocks * fsInfo.bsize,
        databaseBytes: dbBytes,
        artifactBytes: await treeBytes(join(this.dataDir, 'artifacts')),
        outputBytes: await treeBytes(join(this.dataDir, 'outputs')),
        backupBytes: await treeBytes(join(this.dataDir, 'backups')),
      },
      clusters: {},
    };
    for (const c of this.deps.settings.clusters) {
      const rt = this.deps.runtime(c.name);
      if (!rt) continue;
      try {
        // POSIX df: one line of 1024-byte blocks; cheap even on a parallel file system (no du).
        // With a per-account root (/scratch/{user}/x) the file system is the one above the accounts.
        const where = c.scratchRoot.includes('{user}') ? posix.dirname(c.scratchRoot.slice(0, c.scratchRoot.indexOf('{user}')) + 'x') : rt.scratchRoot;
        const res = await rt.transport.exec(['df', '-Pk', where], { timeoutMs: 60_000 });
        const line = res.stdout.trim().split('\n').at(-1) ?? '';
        const f = line.split(/\s+/);
        if (res.exitCode !== 0 || f.length < 6) throw new Error(res.stderr.trim() || `unexpected df output: ${line}`);
        report.clusters[c.name] = { scratchRoot: c.scratchRoot, totalBytes: Number(f[1]) * 1024, freeBytes: Number(f[3]) * 1024 };
      } catch (e) {
        report.clusters[c.name] = { scratchRoot: c.scratchRoot, error: e instanceof Error ? e.message : String(e) };
      }
    }
    this.deps.log.info({ task: 'diskReport', ...report }, `maintenance diskReport: ${gib(report.dataDir.freeBytes)} GiB free of ${gib(report.dataDir.totalBytes)} GiB at ${this.dataDir}`);
    return report;
  }
}

/** The path, if it lies directly under `jobsRoot` (which ends with '/'); throws otherwise. */
export function confinedJobDir(jobsRoot: string, path: string): string {
  const norm = posix.normalize(path);
  const rest = norm.startsWith(jobsRoot) ? norm.slice(jobsRoot.length) : '';
  if (!/^[A-Za-z0-9_.-]+$/.test(rest) || rest === '.' || rest === '..') {
    throw new Error(`refusing to remove ${JSON.stringify(path)}: not a job directory under ${jobsRoot}`);
  }
  return norm;
}

async function treeBytes(root: string): Promise<number> {
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) total += (await fsp.stat(p).catch(() => null))?.size ?? 0;
    }
  };
  await walk(root);
  return total;
}

const gib = (n: number) => (n / 1024 ** 3).toFixed(1);
