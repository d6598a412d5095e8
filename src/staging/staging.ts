/**
 * The data half of the bridge: the `StagingService` the API serves and the `StagingHooks` the
 * reconcilers call. One instance per Bridge (`bridge.staging`).
 *
 *   upload ──▶ daemon store (content-addressed, per owner) ──▶ cluster cache <scratch>/artifacts/<sha>
 *              (once per cluster, verified)                  ──▶ hard link into each job directory
 *   job dir ──▶ list (one remote program, confined) ──▶ download each ──▶ <dataDir>/outputs/<job>/
 *
 * Everything that takes long is resumable from tables (migration 0002): which bytes a job's
 * artifacts resolved to, which bytes a cluster's cache holds, which outputs a stage-out has
 * already stored. Every file lands under a temp name and is renamed when whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, promises as fsp, readdirSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { BridgeError, isTransient } from '../domain/errors.js';
import { invalidDefinition, relativePathProblem, type FieldProblem, type JobSpec } from '../domain/jobSpec.js';
import { isTerminal } from '../domain/state.js';
import { runtimeForJob, type ClusterRuntime } from '../engine/cluster.js';
import type { StagingHooks } from '../engine/loop.js';
import { fetchable } from '../jobdir/bulk.js';
import { HPCB_DIR, jobDirFor } from '../jobdir/layout.js';
import type { Logger } from '../logging.js';
import type { Limits } from '../settings/schema.js';
import type { OutputRecord, PlannedOutput } from '../store/staging.js';
import type { JobRecord, Store } from '../store/store.js';
import { BlobStore } from './blobs.js';
import { ListBatcher } from './listBatch.js';
import { FetchBatcher, SMALL_FILE_BYTES } from './fetchBatch.js';
import { archiveKind, artifactNameProblem, checkArtifactName, isHttpUrl, nameFromUrl, SHA256_HEX } from './names.js';
import {
  packedDirName,
  parseCacheInstall,
  parseCacheProbe,
  parseListOutputs,
  parsePlaceOutput,
  cacheInstallProgram,
  cacheProbeProgram,
  placeProgram,
  type PlaceItem,
} from './remote.js';
import type { ArtifactInfo, LogChunk, OutputInfo, OutputReport, StagingService } from './service.js';

export interface StagingOptions {
  dataDir: string;
  limits: Limits;
  store: Store;
  /** The runtime of a configured cluster (transport, scratch root). */
  runtime: (cluster: string) => ClusterRuntime | undefined;
  log: Logger;
  now?: () => number;
  /** Test hook: called after each output is stored; crash tests kill the daemon from here. */
  onOutputStored?: (jobId: number, name: string) => void | Promise<void>;
}

/** Counters for tests and the benchmark: what crossed which network, and how often. */
export interface StagingStats {
  /** Artifact uploads to a cluster cache, and their bytes. */
  artifactUploads: number;
  artifactBytesUploaded: number;
  /** Stage-ins that found the bytes already in the cluster cache (by table, or by probing). */
  cacheHits: number;
  /** URL artifacts fetched by the daemon, and their bytes. */
  urlFetches: number;
  urlBytesFetched: number;
  /** Outputs and logs brought back, and their bytes. */
  outputsDownloaded: number;
  outputBytesDownloaded: number;
  /** Remote programs that brought back many small outputs and logs at once. */
  fetchCommands?: number;
  /** The same batches read in-process where the transport can (the local one). */
  fetchReads?: number;
}

/** Remote staging programs hash and unpack big files; they get far longer than a squeue. */
const STAGING_EXEC_TIMEOUT_MS = 4 * 3600_000;
const DEFAULT_LOG_READ = 1 << 20;
const MAX_LOG_READ = 16 << 20;

export class Staging implements StagingService, StagingHooks {
  readonly blobs: BlobStore;
  private readonly outputsRoot: string;
  private readonly store: Store;
  private readonly limits: Limits;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly counters: StagingStats = {
    artifactUploads: 0,
    artifactBytesUploaded: 0,
    cacheHits: 0,
    urlFetches: 0,
    urlBytesFetched: 0,
    outputsDownloaded: 0,
    outputBytesDownloaded: 0,
  };
  /** Uploads in progress by (owner, name): a second concurrent PUT of one name is a conflict. */
  private readonly uploading = new Set<string>();
  /** One cluster-cache upload per (cluster, cache dir, sha), however many jobs wait for it. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** One fetch per (job, artifact index). */
  private readonly fetching = new Map<string, Promise<{ sha256: string; size: number }>>();
  /** Output listings of jobs that stage out together, one remote program per batch. */
  private readonly listings = new ListBatcher(STAGING_EXEC_TIMEOUT_MS);
  /**
   * Logs a listing carried whole (remote.ts, INLINE_LOG_BYTES), by job id and log name, until
   * the job's stageOut stores them. Memory only: after a restart the log is fetched as any other.
   */
  private readonly inlineLogs = new Map<number, Map<string, Buffer>>();
  /** Output listings in flight, by job id (planStageOuts and stageOut share one). */
  private readonly planning = new Map<number, Promise<void>>();
  /** Small outputs and logs of jobs that stage out together, one remote program per batch. */
  private readonly fetcher = new FetchBatcher(STAGING_EXEC_TIMEOUT_MS);

  constructor(private readonly opts: StagingOptions) {
    this.store = opts.store;
    this.limits = opts.limits;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.blobs = new BlobStore(opts.dataDir);
    this.outputsRoot = join(opts.dataDir, 'outputs');
    mkdirSync(this.outputsRoot, { recursive: true });
    // Nothing is in flight at construction: every temp file is a crash's leftover.
    this.blobs.sweepTemp();
    for (const job of readdirSync(this.outputsRoot)) rmSync(join(this.outputsRoot, job, '.tmp'), { recursive: true, force: true });
  }

  stats(): StagingStats {
    return { ...this.counters, fetchCommands: this.fetcher.fetches, fetchReads: this.fetcher.reads };
  }

  // ------------------------------------------------------------------ submission checks

  /**
   * What the Bridge checks before a job is stored: inline inputs within the size limit, and
   * every artifact either an http(s) URL or the name of an artifact this owner has uploaded.
   */
  checkSubmission(owner: string, spec: JobSpec): void {
    const problems: FieldProblem[] = [];
    spec.inputs.forEach((f, i) => {
      const bytes = base64Size(f.content);
      if (bytes > this.limits.inputFileBytes) {
        problems.push({ field: `inputs[${i}].content`, message: `is ${bytes} bytes, more than the limit of ${this.limits.inputFileBytes} bytes per inline input (upload it as an artifact instead)` });
      }
    });
    spec.artifacts.forEach((a, i) => {
      const field = `artifacts[${i}].url`;
      if (isHttpUrl(a.url)) {
        try {
          new URL(a.url);
        } catch {
          problems.push({ field, message: 'is not a valid URL' });
        }
        return;
      }
      const problem = artifactNameProblem(a.url);
      if (problem) problems.push({ field, message: `is neither an http(s) URL nor a valid artifact name: the name ${problem}` });
      else if (!this.getArtifact(owner, a.url)) problems.push({ field, message: `no artifact named "${a.url}" (upload it first)` });
    });
    spec.outputFiles.forEach((p, i) => {
      const problem = relativePathProblem(p);
      if (problem) problems.push({ field: `outputFiles[${i}]`, message: problem });
    });
    if (problems.length > 0) throw invalidDefinition(problems);
  }

  // ------------------------------------------------------------------ artifacts (daemon store)

  async putArtifact(owner: string, name: string, body: Readable, opts: { expectedSha256?: string; maxBytes?: number } = {}): Promise<ArtifactInfo> {
    checkArtifactName(name);
    if (opts.expectedSha256 !== undefined && !SHA256_HEX.test(opts.expectedSha256.toLowerCase())) {
      throw new BridgeError('INVALID_DEFINITION', 'expected SHA-256 must be 64 hexadecimal characters', {
        context: { field: 'sha256', problems: [{ field: 'sha256', message: 'must be 64 hexadecimal characters' }] },
      });
    }
    const key = `${owner}\0${name}`;
    if (this.uploading.has(key)) {
      body.resume(); // drain so the client is not left hanging on a full socket
      throw new BridgeError('CONFLICT', `artifact "${name}" is already being uploaded`, { context: { field: 'name' } });
    }
    this.uploading.add(key);
    try {
      const maxBytes = Math.min(opts.maxBytes ?? this.limits.artifactBytes, this.limits.artifactBytes);
      const { sha256, size } = await this.blobs.ingest(owner, body, {
        maxBytes,
        what: `artifact "${name}"`,
        ...(opts.expectedSha256 !== undefined ? { expectedSha256: opts.expectedSha256 } : {}),
      });
      const previous = this.getArtifact(owner, name);
      const createdAt = this.now();
      this.store.staging.putArtifact(owner, { name, sha256, size, createdAt });
      // Replacing a name: its old bytes go once nothing else needs them.
      if (previous && previous.sha256 !== sha256) this.collectBlob(owner, previous.sha256);
      return { name, size, sha256, createdAt };
    } finally {
      this.uploading.delete(key);
    }
  }

  listArtifacts(owner: string): ArtifactInfo[] {
    return this.store.staging.listArtifacts(owner);
  }

  getArtifact(owner: string, name: string): ArtifactInfo | undefined {
    return this.store.staging.getArtifact(owner, name);
  }

  deleteArtifact(owner: string, name: string): boolean {
    const row = this.getArtifact(owner, name);
    if (!row) return false;
    this.store.staging.deleteArtifact(owner, name);
    try {
      this.collectBlob(owner, row.sha256);
    } catch (e) {
      this.log.warn({ err: String(e), owner, sha256: row.sha256 }, 'could not remove an artifact blob');
    }
    return true;
  }

  /**
   * Remove a blob nothing refers to: no artifact name of its owner, and no job of its owner that
   * is still active (a job resolves its artifacts to bytes at its first stage-in, and a retried
   * stage-in or a resubmission stages those same bytes again).
   */
  private collectBlob(owner: string, sha256: string): void {
    if (!this.store.staging.blobInUse(owner, sha256)) this.blobs.remove(owner, sha256);
  }

  // ------------------------------------------------------------------ stage-in

  stageInNeeded(job: JobRecord): boolean {
    return job.spec.artifacts.length > 0;
  }

  async stageIn(job: JobRecord, jobDir: string, rt: ClusterRuntime): Promise<void> {
    if (!this.stageInNeeded(job)) return;
    const resolved = [];
    for (const [index, ref] of job.spec.artifacts.entries()) {
      const r = await this.resolve(job, index, ref.url);
      resolved.push({ index, ...r, executable: ref.executable });
    }
    const cacheDir = posix.join(rt.scratchRoot, 'artifacts');
    const unique = new Map(resolved.map((r) => [r.sha256, r.size]));
    for (const [sha256, size] of unique) await this.ensureCached(rt, job.owner, cacheDir, sha256, size);

    const items: PlaceItem[] = resolved.map((r) => ({
      index: r.index,
      cacheFile: posix.join(cacheDir, r.sha256),
      size: r.size,
      fileName: r.fileName,
      executable: r.executable,
      kind: archiveKind(r.fileName),
    }));
    const res = await rt.transport.exec(placeProgram(jobDir, items), { timeoutMs: STAGING_EXEC_TIMEOUT_MS });
    const out = parsePlaceOutput(res.stdout);
    if (out.noDir) throw new BridgeError('REMOTE_IO', `job directory ${jobDir} vanished during stage-in`, { transient: true, context: { cluster: rt.name, jobId: job.id } });
    if (!out.complete || res.exitCode !== 0) {
      throw new BridgeError('REMOTE_IO', 'placing artifacts in the job directory did not finish', {
        transient: true,
        context: { cluster: rt.name, jobId: job.id, exitCode: res.exitCode, stderr: res.stderr },
      });
    }
    for (const it of items) {
      const r = out.results.get(it.index);
      if (r?.status === 'ok') continue;
      if (r?.status === 'missing') {
        // The cache was purged behind our back: forget it, and the retry uploads again.
        this.store.staging.forgetCached(rt.name, cacheDir, resolved.find((x) => x.index === it.index)!.sha256);
        throw new BridgeError('REMOTE_IO', `artifacts[${it.index}]: the cluster's cached copy is missing; uploading it again`, { transient: true, context: { cluster: rt.name, jobId: job.id } });
      }
      const msg = r?.status === 'fail' ? r.message : 'no answer';
      throw new BridgeError('REMOTE_IO', `artifacts[${it.index}] (${it.fileName}): ${msg}`, { context: { cluster: rt.name, jobId: job.id, field: `artifacts[${it.index}]` } });
    }
  }

  /** The bytes and file name of a job's artifacts[index], fixed (persisted) at first use. */
  private async resolve(job: JobRecord, index: number, source: string): Promise<{ sha256: string; size: number; fileName: string }> {
    const fileName = isHttpUrl(source) ? nameFromUrl(source, index) : source;
    const row = this.store.staging.resolvedArtifact(job.id, index);
    if (row) return { ...row, fileName };
    let got: { sha256: string; size: number };
    if (isHttpUrl(source)) {
      got = await this.fetchOnce(job, index, source);
    } else {
      const a = this.getArtifact(job.owner, source);
      if (!a) {
        throw new BridgeError('NOT_FOUND', `artifacts[${index}].url: no artifact named "${source}" (it was deleted after the job was submitted)`, {
          context: { jobId: job.id, field: `artifacts[${index}].url` },
        });
      }
      got = { sha256: a.sha256, size: a.size };
    }
    this.store.staging.recordResolvedArtifact(job.id, index, { source, sha256: got.sha256, size: got.size, at: this.now() });
    return { ...got, fileName };
  }

  private fetchOnce(job: JobRecord, index: number, url: string): Promise<{ sha256: string; size: number }> {
    const key = `${job.id}:${index}`;
    let p = this.fetching.get(key);
    if (!p) {
      p = this.fetchUrl(job, index, url).finally(() => this.fetching.delete(key));
      this.fetching.set(key, p);
    }
    return p;
  }

  /**
   * Fetch a URL artifact into the owner's store (compute nodes often have no internet; the daemon
   * does). Streamed, size-capped; a server error or a dropped connection is retried by the
   * reconciler's backoff, a 4xx is final. A restart mid-fetch starts the fetch again.
   */
  private async fetchUrl(job: JobRecord, index: number, url: string): Promise<{ sha256: string; size: number }> {
    const field = `artifacts[${index}].url`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.limits.fetchTimeoutSeconds * 1000), redirect: 'follow' });
    } catch (e) {
      throw new BridgeError('REMOTE_IO', `${field}: fetching ${url} failed: ${e instanceof Error ? e.message : String(e)}`, { transient: true, context: { jobId: job.id, field }, cause: e });
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => {});
      const transient = res.status >= 500 || res.status === 429 || res.status === 408;
      throw new BridgeError(transient ? 'REMOTE_IO' : 'NOT_FOUND', `${field}: fetching ${url} answered HTTP ${res.status}`, { transient, context: { jobId: job.id, field, status: res.status } });
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > this.limits.artifactBytes) {
      await res.body.cancel().catch(() => {});
      throw new BridgeError('TOO_LARGE', `${field}: ${url} is ${declared} bytes, more than the artifact limit of ${this.limits.artifactBytes}`, { context: { jobId: job.id, field } });
    }
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    const got = await this.blobs.ingest(job.owner, body, { maxBytes: this.limits.artifactBytes, what: `${field} (${url})` });
    this.counters.urlFetches++;
    this.counters.urlBytesFetched += got.size;
    return got;
  }

  /**
   * Make sure `<cacheDir>/<sha256>` holds these bytes. Recorded in cluster_artifacts once
   * verified, so every later job costs no transfer and no hashing. A cache file the table does
   * not know (a new database, a second daemon) is adopted after one sha256sum on the cluster.
   */
  private async ensureCached(rt: ClusterRuntime, owner: string, cacheDir: string, sha256: string, size: number): Promise<void> {
    const key = `${rt.name}\0${cacheDir}\0${sha256}`;
    if (this.store.staging.isCached(rt.name, cacheDir, sha256)) {
      this.counters.cacheHits++;
      return;
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = this.upload(rt, owner, cacheDir, sha256, size).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
      await p;
      return;
    }
    await p;
    this.counters.cacheHits++;
  }

  private async upload(rt: ClusterRuntime, owner: string, cacheDir: string, sha256: string, size: number): Promise<void> {
    const t = rt.transport;
    const final = posix.join(cacheDir, sha256);
    const record = () => this.store.staging.recordCached(rt.name, cacheDir, sha256, size, this.now());

    const probe = await t.exec(cacheProbeProgram(final), { timeoutMs: STAGING_EXEC_TIMEOUT_MS });
    if (parseCacheProbe(probe.stdout) === sha256) {
      record();
      this.counters.cacheHits++;
      return;
    }
    const local = this.blobs.blobPath(owner, sha256);
    if (!(await this.blobs.has(owner, sha256))) {
      throw new BridgeError('NOT_FOUND', `artifact bytes ${sha256} are no longer in the daemon's store`, { context: { cluster: rt.name } });
    }
    await t.mkdirp(cacheDir, 0o700);
    const tmp = posix.join(cacheDir, `.incoming-${sha256}-${randomBytes(4).toString('hex')}`);
    try {
      await t.upload(local, tmp, { mode: 0o600 });
    } catch (e) {
      // Clean-up is best effort and not waited for: when the upload failed because the link to
      // the cluster is gone, a remove first has to reconnect (several attempts, each up to the
      // SSH ready timeout), and waiting here held the whole reconciler tick for that long, so
      // the cluster was not reported degraded for over a minute of outage (test/reliability/
      // link-cut.test.ts). A leftover `.incoming-*` is never read and is replaced next time.
      void t.remove(tmp).catch(() => {});
      throw e;
    }
    this.counters.artifactUploads++;
    this.counters.artifactBytesUploaded += size;
    const v = await t.exec(cacheInstallProgram(tmp, final, sha256), { timeoutMs: STAGING_EXEC_TIMEOUT_MS });
    const verdict = parseCacheInstall(v.stdout);
    if (!verdict.ok) {
      throw new BridgeError('REMOTE_IO', `artifact ${sha256} arrived on ${rt.name} with SHA-256 ${verdict.got}; uploading it again`, {
        transient: true,
        context: { cluster: rt.name, stderr: v.stderr },
      });
    }
    record();
  }

  // ------------------------------------------------------------------ stage-out

  async stageOut(job: JobRecord, jobDir: string, rt: ClusterRuntime): Promise<void> {
    const tables = this.store.staging;
    let completedAt = tables.stageOut(job.id)?.completedAt;
    if (completedAt === undefined) {
      await this.plan(job, jobDir, rt);
      completedAt = null;
    }
    if (completedAt === null) {
      const pending = tables.pendingOutputs(job.id);
      if (pending.length > 0) {
        const dir = this.jobOutputsDir(job.id);
        await fsp.mkdir(join(dir, '.tmp'), { recursive: true });
        // Small files of every job staging out now share one stream; the rest go one by one.
        // Logs the listing carried whole, and empty ones (a finished job's logs do not grow),
        // need no transfer: they are stored last, as the plan orders logs after the outputs.
        const inline = this.inlineLogs.get(job.id);
        const carriedBytes = (r: OutputRecord) => (r.kind !== 'log' ? undefined : r.size === 0 ? Buffer.alloc(0) : inline?.get(r.name)?.length === r.size ? inline.get(r.name) : undefined);
        const carried = pending.filter((r) => carriedBytes(r) !== undefined);
        const small = pending.filter((r) => !carried.includes(r) && r.size <= SMALL_FILE_BYTES && fetchable(r.remotePath));
        const fetched = await Promise.all(small.map((r) => this.fetcher.fetch(rt.transport, r.remotePath, r.size)));
        for (const [i, row] of small.entries()) {
          const data = fetched[i];
          // Gone or no longer a plain file since the listing: the single download decides.
          if (Buffer.isBuffer(data)) await this.storeBytes(job, row, dir, data);
          else await this.downloadOne(job, rt, row, dir);
        }
        for (const row of pending) if (!small.includes(row) && !carried.includes(row)) await this.downloadOne(job, rt, row, dir);
        for (const row of carried) await this.storeBytes(job, row, dir, carriedBytes(row)!);
      }
      tables.completeStageOut(job.id, this.now());
    }
    this.inlineLogs.delete(job.id);
    // The job is about to be terminal: bytes only it referred to (a fetched URL) can go.
    for (const sha256 of tables.resolvedBlobs(job.id)) {
      if (!tables.blobInUse(job.owner, sha256, job.id)) this.blobs.remove(job.owner, sha256);
    }
  }

  /**
   * List the outputs of jobs about to stage out, all in the same turn, so the listings share
   * programs (ListBatcher: up to 50 jobs each) instead of one per free stage-out slot. A failed
   * listing is left to the job's own stageOut, which lists again.
   */
  planStageOuts(jobs: readonly { job: JobRecord; jobDir: string }[], rt: ClusterRuntime): void {
    for (const { job, jobDir } of jobs) {
      if (job.spec.outputDirs.length > 0 || this.store.staging.stageOut(job.id) !== undefined) continue;
      this.plan(job, jobDir, rt).catch(() => undefined);
    }
  }

  /** One listing per job at a time: a planned one and the job's own stageOut share it. */
  private plan(job: JobRecord, jobDir: string, rt: ClusterRuntime): Promise<void> {
    let p = this.planning.get(job.id);
    if (!p) {
      p = this.listOnCluster(job, jobDir, rt).finally(() => this.planning.delete(job.id));
      this.planning.set(job.id, p);
    }
    return p;
  }

  private jobOutputsDir(jobId: number): string {
    return join(this.outputsRoot, String(jobId));
  }

  /** One remote program lists (and packs) everything; the plan is persisted in one transaction. */
  private async listOnCluster(job: JobRecord, jobDir: string, rt: ClusterRuntime): Promise<void> {
    const spec = job.spec;
    const res = await this.listings.list(rt.transport, { key: String(job.id), jobDir, patterns: spec.outputFiles, dirs: spec.outputDirs, taskCount: spec.tasks.length });
    const listed = parseListOutputs(res.stdout);
    const problems: { name: string; reason: string }[] = [];
    const planned: PlannedOutput[] = [];
    if (listed.noDir) {
      problems.push({ name: '.', reason: 'the job directory no longer exists on the cluster' });
    } else if (!listed.complete || res.exitCode !== 0) {
      throw new BridgeError('REMOTE_IO', 'listing the job outputs did not finish', { transient: true, context: { cluster: rt.name, jobId: job.id, exitCode: res.exitCode, stderr: res.stderr } });
    }
    const seen = new Set<string>();
    const add = (p: PlannedOutput) => {
      if (seen.has(p.name)) return; // a file matched by two patterns is collected once
      seen.add(p.name);
      planned.push(p);
    };
    for (const e of listed.entries) {
      switch (e.type) {
        case 'file': {
          const problem = relativePathProblem(e.name);
          if (problem) problems.push({ name: e.name, reason: `not collected: the name ${problem}` });
          else add({ name: e.name, kind: 'file', remotePath: e.realPath, size: e.size });
          break;
        }
        case 'rejected':
          problems.push({ name: e.name, reason: REJECT_REASONS[e.reason] ?? `not collected (${e.reason})` });
          break;
        case 'nomatch':
          problems.push({ name: spec.outputFiles[e.pattern] ?? `outputFiles[${e.pattern}]`, reason: 'matched no file' });
          break;
        case 'dir': {
          const name = packedDirName(spec.outputDirs[e.dir]!);
          if (seen.has(name)) problems.push({ name, reason: 'not collected: an output file has the same name' });
          else add({ name, kind: 'directory', remotePath: e.archivePath, size: e.size });
          break;
        }
        case 'dirRejected':
          problems.push({ name: spec.outputDirs[e.dir] ?? `outputDirs[${e.dir}]`, reason: `${DIR_REJECT_REASONS[e.reason] ?? e.reason}${e.detail ? `: ${e.detail}` : ''}` });
          break;
        case 'log':
          break;
      }
    }
    // Logs after the outputs: the outputs are what the job was for, and a log that does not fit
    // stays readable from the cluster for as long as scratch keeps it.
    for (const e of listed.entries) {
      if (e.type !== 'log') continue;
      const name = `task.${e.task}.${e.which}`;
      planned.push({ name, kind: 'log', remotePath: posix.join(jobDir, HPCB_DIR, name), size: e.size });
      if (e.content) {
        const logs = this.inlineLogs.get(job.id) ?? new Map<string, Buffer>();
        logs.set(name, e.content);
        this.inlineLogs.set(job.id, logs);
      }
    }
    const cap = this.limits.outputBytesPerJob;
    let total = 0;
    for (const p of planned) {
      if (total + p.size > cap) {
        p.skippedReason = `not collected: would exceed the per-job output limit of ${cap} bytes (${p.size} bytes, ${total} already collected)`;
        if (p.kind !== 'log') problems.push({ name: p.name, reason: p.skippedReason });
        continue;
      }
      total += p.size;
    }
    this.store.staging.recordOutputPlan(job.id, planned, problems, this.now());
  }

  private async downloadOne(job: JobRecord, rt: ClusterRuntime, row: OutputRecord, dir: string): Promise<void> {
    const tmp = join(dir, '.tmp', String(row.id));
    try {
      // A log the listing found empty (most stderr) needs no transfer: a finished job's logs do
      // not grow, and a transfer per empty file is a round trip (or a spawn) per job.
      if (row.kind === 'log' && row.size === 0) await fsp.writeFile(tmp, '');
      else await rt.transport.download(row.remotePath, tmp);
    } catch (e) {
      // A file that vanished since the listing (scratch purge, a straggling process) is a
      // problem to report; anything else (connection lost) is retried.
      if (!isTransient(e) && (await rt.transport.stat(row.remotePath).catch(() => undefined)) === null) {
        this.store.staging.skipOutput(row.id, 'not collected: it disappeared from the cluster before it could be downloaded');
        return;
      }
      throw e;
    }
    const { sha256, size } = await hashFile(tmp);
    await this.stored(job, row, dir, tmp, sha256, size);
  }

  /** An output that came back in a fetch stream: written under a temp name, then renamed. */
  private async storeBytes(job: JobRecord, row: OutputRecord, dir: string, data: Buffer): Promise<void> {
    const tmp = join(dir, '.tmp', String(row.id));
    await fsp.writeFile(tmp, data);
    await this.stored(job, row, dir, tmp, createHash('sha256').update(data).digest('hex'), data.length);
  }

  private async stored(job: JobRecord, row: OutputRecord, dir: string, tmp: string, sha256: string, size: number): Promise<void> {
    await fsp.rename(tmp, join(dir, String(row.id)));
    this.store.staging.outputStored(row.id, sha256, size);
    this.counters.outputsDownloaded++;
    this.counters.outputBytesDownloaded += size;
    await this.opts.onOutputStored?.(job.id, row.name);
  }

  // ------------------------------------------------------------------ reading outputs and logs

  private owned(jobId: number, owner: string): JobRecord {
    const job = this.store.getOwned(jobId, owner);
    if (!job) throw new BridgeError('NOT_FOUND', `job ${jobId} not found`, { context: { jobId } });
    return job;
  }

  listOutputs(jobId: number, owner: string): OutputReport {
    this.owned(jobId, owner);
    const rows = this.store.staging.outputs(jobId);
    const problems: OutputReport['problems'] = this.store.staging.stageOut(jobId)?.problems ?? [];
    for (const r of rows) {
      if (r.state === 'skipped' && !problems.some((p) => p.name === r.name)) problems.push({ name: r.name, reason: r.reason ?? 'not collected' });
    }
    const outputs: OutputInfo[] = rows
      .filter((r) => r.state === 'done')
      .map((r) => ({ name: r.name, size: r.size, sha256: r.sha256!, kind: r.kind === 'directory' ? 'directory' : 'file' }));
    return { outputs, problems };
  }

  async openOutput(jobId: number, owner: string, name: string, range?: { start: number; end?: number }) {
    this.owned(jobId, owner);
    const row = this.store.staging.storedOutput(jobId, name);
    if (!row) throw new BridgeError('NOT_FOUND', `job ${jobId} has no output named ${JSON.stringify(name)}`, { context: { jobId, path: name } });
    return this.openStored(row, range);
  }

  private openStored(row: OutputRecord, range?: { start: number; end?: number }): { stream: Readable; size: number; sha256: string; start: number; end: number } {
    const size = row.size;
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? size - 1, size - 1);
    if (!Number.isInteger(start) || start < 0 || (range?.end !== undefined && (!Number.isInteger(range.end) || range.end < start)) || (start >= size && size > 0) || (size === 0 && start > 0)) {
      throw new BridgeError('INVALID_DEFINITION', `range ${start}-${range?.end ?? ''} is not satisfiable for ${size} bytes`, { context: { field: 'range', size } });
    }
    const path = join(this.jobOutputsDir(row.jobId), String(row.id));
    const stream = end < start ? Readable.from([]) : createReadStream(path, { start, end });
    return { stream, size, sha256: row.sha256!, start, end };
  }

  async readLog(jobId: number, owner: string, which: 'stdout' | 'stderr', opts: { task?: number; offset?: number; maxBytes?: number } = {}): Promise<LogChunk> {
    const job = this.owned(jobId, owner);
    const task = opts.task ?? 0;
    if (!Number.isInteger(task) || task < 0 || task >= job.spec.tasks.length) {
      throw new BridgeError('INVALID_DEFINITION', `task must be between 0 and ${job.spec.tasks.length - 1}`, { context: { field: 'task' } });
    }
    const offset = opts.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw new BridgeError('INVALID_DEFINITION', 'offset must be a whole number of bytes, at least 0', { context: { field: 'offset' } });
    const maxBytes = Math.max(1, Math.min(Math.floor(opts.maxBytes ?? DEFAULT_LOG_READ), MAX_LOG_READ));
    const terminal = isTerminal(job.state);
    const name = `task.${task}.${which}`;
    const row = this.store.staging.storedLog(jobId, name);
    if (row) {
      const data = await readLocalRange(join(this.jobOutputsDir(jobId), String(row.id)), offset, maxBytes);
      return { data, nextOffset: offset + data.length, complete: terminal && offset + data.length >= row.size };
    }
    const base = this.opts.runtime(job.cluster);
    // Read as the job's own account: no other account can enter its directory.
    const rt = base && runtimeForJob(base, job);
    if (!rt || job.state === 'accepted') return { data: Buffer.alloc(0), nextOffset: offset, complete: terminal };
    const path = posix.join(jobDirFor(rt.scratchRoot, this.store.instanceId(), jobId), HPCB_DIR, name);
    const data = (await rt.transport.readRange(path, offset, maxBytes)) ?? Buffer.alloc(0);
    return { data, nextOffset: offset + data.length, complete: terminal && data.length < maxBytes };
  }
}

const REJECT_REASONS: Record<string, string> = {
  outside: 'not collected: it resolves outside the job directory (symlink)',
  dangling: 'not collected: a symlink to nothing',
  directory: 'not collected: it is a directory (list it in outputDirs)',
  special: 'not collected: not a regular file',
};

const DIR_REJECT_REASONS: Record<string, string> = {
  missing: 'no such directory',
  outside: 'not collected: it resolves outside the job directory, or is the job directory itself',
  notdir: 'not a directory',
  tar: 'packing it failed',
};

/** Decoded size of a base64 string without decoding it. */
function base64Size(b64: string): number {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - pad;
}

/**
 * Hash a file through one reused buffer: a fresh Buffer per chunk would leave gigabytes of
 * garbage for the collector on a big output, which shows as resident memory growth.
 */
async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let size = 0;
  const fh = await fsp.open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, size);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), size };
}

async function readLocalRange(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
