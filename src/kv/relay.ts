/**
 * The relay: key-value access for jobs on clusters whose compute nodes cannot reach the daemon.
 * The in-job helper writes each request as a directory under `.hpcb/kv/req/`; one scan program
 * per account with running jobs (at most once per poll interval) lists the requests of all of
 * them, the daemon applies them as each job's owner, in the order each job wrote them, and one
 * answer program writes each answer to `.hpcb/kv/res/<id>/` and removes the request.
 *
 * A daemon stopped between applying a request and answering it applies it again after its
 * restart (the request is still there): a set or delete repeated is the same set or delete, so
 * this only matters when another writer changed the key in between.
 */
import { BridgeError } from '../domain/errors.js';
import type { ClusterRuntime } from '../engine/cluster.js';
import { kvAnswerLine, kvAnswerProgram, kvScanProgram, parseKvScan, type KvRequest } from '../jobdir/kv.js';
import type { Logger } from '../logging.js';
import type { JobRecord } from '../store/store.js';
import type { KeyValueService } from './service.js';

/** Job directories per scan command (a few hundred paths stay far below argv limits). */
const DIRS_PER_SCAN = 200;
/** Requests handled per scan command; more wait for the next round. */
const REQUESTS_PER_SCAN = 500;

const STATUS: Partial<Record<string, number>> = { INVALID_DEFINITION: 400, NOT_FOUND: 404, CONFLICT: 409, TOO_LARGE: 413 };

export interface KvAnswer {
  status: number;
  body: Buffer;
}

export class KvRelay {
  /** When each (cluster, account) was last scanned. */
  private readonly lastScan = new Map<string, number>();

  constructor(
    private readonly kv: KeyValueService,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Scan `jobs` (one account's, on `rt`) and answer what they asked; at most once per poll interval. */
  async round(jobs: readonly JobRecord[], rt: ClusterRuntime, jobDirOf: (job: JobRecord) => string): Promise<void> {
    if (jobs.length === 0) return;
    const pace = `${rt.name}\0${rt.user}`;
    const started = this.now();
    if (started - (this.lastScan.get(pace) ?? 0) < rt.pollIntervalMs) return;
    this.lastScan.set(pace, started);
    for (let i = 0; i < jobs.length; i += DIRS_PER_SCAN) {
      const chunk = jobs.slice(i, i + DIRS_PER_SCAN);
      const dirs = chunk.map(jobDirOf);
      const scan = await rt.transport.exec(kvScanProgram(this.kv.limits.maxValueBytes, REQUESTS_PER_SCAN, dirs), { timeoutMs: rt.commandTimeoutMs });
      if (scan.exitCode !== 0) throw new BridgeError('REMOTE_IO', 'the key-value relay scan failed', { transient: true, context: { cluster: rt.name, exitCode: scan.exitCode, stderr: scan.stderr } });
      const requests = parseKvScan(scan.stdout);
      if (requests.length === 0) continue;
      const answers = requests.map((r) => kvAnswerLine(r.job, r.id, ...answerOf(this.apply(chunk[r.job]!, r))));
      const done = await rt.transport.exec(kvAnswerProgram(dirs), { timeoutMs: rt.commandTimeoutMs, stdin: answers.join('') });
      // Request ids start with the job's clock in nanoseconds: how long the oldest waited for us.
      const oldest = Math.min(...requests.map((r) => Number(r.id.split('.')[0]) / 1e6));
      this.log.info({ cluster: rt.name, account: rt.user, requests: requests.length, oldestWaitedMs: Number.isFinite(oldest) ? Math.round(this.now() - oldest) : undefined, answered: done.exitCode === 0 }, 'key-value requests relayed');
    }
  }

  /** One request, as its job's owner. */
  apply(job: Pick<JobRecord, 'owner'>, r: KvRequest): KvAnswer {
    const text = (status: number, s: string): KvAnswer => ({ status, body: Buffer.from(s) });
    try {
      switch (r.op) {
        case 'get':
          return { status: 200, body: this.kv.get(job.owner, r.key).value };
        case 'set':
          if (r.value === undefined) return text(400, 'value: a set needs a value');
          if (!Buffer.isBuffer(r.value)) return text(413, `value of ${r.value.tooLarge} bytes is larger than the limit of ${this.kv.limits.maxValueBytes} (daemon.kv.maxValueBytes)`);
          this.kv.set(job.owner, r.key, r.value);
          return text(200, '');
        case 'delete':
          this.kv.delete(job.owner, r.key);
          return text(200, '');
        case 'list': {
          const keys = this.kv.list(job.owner, { prefix: r.key, limit: this.kv.limits.maxKeysPerUser });
          return text(200, keys.map((k) => `${k.key}\n`).join(''));
        }
        default:
          return text(400, 'op: unknown operation (get, set, list, delete)');
      }
    } catch (e) {
      if (e instanceof BridgeError && STATUS[e.code]) return text(STATUS[e.code]!, e.message);
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'key-value relay request failed');
      return text(500, 'internal error');
    }
  }
}

function answerOf(a: KvAnswer): [number, Buffer] {
  return [a.status, a.body];
}
