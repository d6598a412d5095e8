/**
 * The network between the daemon and the login node cut for 60 s (the test cluster's veth taken
 * down: packets vanish, connections hang rather than being refused) while jobs run and while a
 * 128 MiB artifact is being uploaded to the cluster's cache for a job's stage-in.
 *
 * What a user must see: no job changes state while the daemon cannot look (a job that ends
 * during the cut is reported only once it can be read), /healthz says the cluster is degraded,
 * and afterwards every job reaches the state it really ended in, the upload completes with the
 * right bytes, and no job was submitted twice.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Transport } from '../../src/transport/transport.js';
import { call, startDaemon, type Daemon } from '../api/helpers.js';
import { clusterCtl } from '../cluster/env.js';
import { labSettings, onLogin, until } from '../e2e/support/lab.js';
import { checkDb, dbInstance, duplicatesAndMissing, schedulerJobsByTag, sleep, writeLog, writeSummary } from './support.js';

const CUT_MS = 60_000;
const ARTIFACT_BYTES = 128 * 1024 * 1024;

describe('link between daemon and login node cut for 60 s', () => {
  let d: Daemon | undefined;
  let linkDown = false;
  const lab = labSettings({ cluster: { commandTimeoutSeconds: 10 }, ssh: { keepaliveSeconds: 5 } });

  let logs: string[] = [];
  afterAll(async () => {
    if (linkDown) await clusterCtl('link-up');
    await d?.close();
    // The daemon's log next to the summary: what it saw during the cut, for whoever reads a failure.
    writeLog('link-cut', logs);
    await onLogin(lab.env, `rm -rf '${lab.scratchRoot}'`).catch(() => undefined);
  });

  it('no state changes during the cut, degraded in /healthz, then true terminal states and the staged file intact', async () => {
    d = await startDaemon({ settings: lab.settings });
    logs = d.logs;
    // Node's server closes an idle keep-alive connection after 5 s; a request the client sends
    // on such a socket at that instant gets ECONNRESET (seen once here on the 128 MiB PUT after
    // an idle wait). Not what these tests are about, so keep connections open longer.
    d.server.server.keepAliveTimeout = 120_000;
    const bridge = d.bridge;

    // Observe the cluster transport's uploads: when the first bytes leave, and how each ended.
    const transport = bridge.reconciler('lab')!.rt.transport as Transport;
    const realUpload = transport.upload.bind(transport);
    const uploads: { ok: boolean | null; error?: string }[] = [];
    let firstBytes!: () => void;
    const uploadInFlight = new Promise<void>((r) => (firstBytes = r));
    transport.upload = async (local, remote, opts = {}) => {
      const rec: { ok: boolean | null; error?: string } = { ok: null };
      uploads.push(rec);
      try {
        await realUpload(local, remote, {
          ...opts,
          onProgress: (done, total) => {
            if (done > 0) firstBytes();
            opts.onProgress?.(done, total);
          },
        });
        rec.ok = true;
      } catch (e) {
        rec.ok = false;
        rec.error = e instanceof Error ? e.message : String(e);
        throw e;
      }
    };

    // Jobs that run across the cut: two outlive it, one ends during it with a known failure.
    const submit = async (def: unknown) => {
      const r = await call(d!, 'POST', '/jobs', { body: def });
      expect(r.status, r.text).toBe(201);
      return r.json.id as number;
    };
    const longIds = [await submit({ tasks: [{ cmd: 'sleep 90; echo outlived' }] }), await submit({ tasks: [{ cmd: 'sleep 90; echo outlived' }] })];
    const failsDuring = await submit({ tasks: [{ cmd: 'sleep 40; exit 3' }] });
    const running = [...longIds, failsDuring];
    await until('jobs running', () => running.every((id) => bridge.get(id)!.state === 'running'), 120_000);

    // A 128 MiB artifact through the API (into the daemon's store), then a job that needs it: its
    // stage-in uploads the bytes to the cluster cache, and the link goes down mid-transfer.
    const bytes = randomBytes(ARTIFACT_BYTES);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const put = await call(d, 'PUT', '/artifacts/big.bin', { raw: bytes, headers: { 'content-type': 'application/octet-stream', 'x-checksum-sha256': sha } });
    expect(put.status, put.text).toBe(201);
    const staged = await submit({ tasks: [{ cmd: 'sha256sum big.bin | cut -d" " -f1 > sum.txt' }], artifacts: [{ url: 'big.bin' }], outputFiles: ['sum.txt'] });
    const all = [...running, staged];

    await uploadInFlight;
    await clusterCtl('link-down');
    linkDown = true;
    const cutAt = Date.now();
    const eventsAtCut = all.map((id) => bridge.store.events(id).length);
    const statesAtCut = all.map((id) => bridge.get(id)!.state);
    expect(statesAtCut[3]).toBe('staging_in');
    let degradedSeen = false;
    let healthzDuringCut: unknown;
    try {
      while (Date.now() - cutAt < CUT_MS) {
        await sleep(1000);
        expect(all.map((id) => bridge.store.events(id).length)).toEqual(eventsAtCut);
        expect(all.map((id) => bridge.get(id)!.state)).toEqual(statesAtCut);
        const h = await call(d, 'GET', '/healthz', { token: null });
        if (h.json.status === 'degraded') {
          degradedSeen = true;
          healthzDuringCut = h.json;
        }
      }
    } finally {
      await clusterCtl('link-up');
      linkDown = false;
    }
    const outageSeconds = Math.round((Date.now() - cutAt) / 1000);
    expect(degradedSeen).toBe(true);
    expect(healthzDuringCut).toMatchObject({ status: 'degraded', clusters: [{ name: 'lab', state: 'degraded', reachable: false }] });
    // The transfer really was in flight: the attempt cut by the outage failed, a later one finished.
    expect(uploads[0]!.ok).toBe(false);

    const done = await Promise.all(all.map((id) => bridge.wait(id, 240_000)));
    expect(done.map((j) => [j.status, j.exitCode])).toEqual([
      ['completed', 0],
      ['completed', 0],
      ['failed', 3],
      ['completed', 0],
    ]);
    expect(uploads.at(-1)!.ok).toBe(true);

    // The cluster's cached copy and what the job itself read are the uploaded bytes.
    const cache = posix.join(lab.scratchRoot, 'artifacts', sha);
    expect((await onLogin(lab.env, `sha256sum '${cache}'`)).split(' ')[0]).toBe(sha);
    const sum = await d.alice.downloadOutput(staged, 'sum.txt');
    expect(Buffer.from(sum).toString().trim()).toBe(sha);
    const h = await call(d, 'GET', '/healthz', { token: null });
    expect(h.json.status).toBe('ok');

    // Exactly one scheduler job per bridge job.
    const dbPath = join(lab.dataDir, 'hpc-bridge.db');
    const sched = await until('accounting has every job', async () => {
      const s = await schedulerJobsByTag(lab.env, dbInstance(dbPath));
      return new Set(s.map((x) => x.jobId)).size >= all.length ? s : undefined;
    }, 60_000, 1000);
    const { duplicates, missing } = duplicatesAndMissing(all, sched);
    expect({ duplicates, missing }).toEqual({ duplicates: [], missing: [] });

    await d.close();
    d = undefined;
    const db = checkDb(dbPath);
    writeSummary('link-cut', {
      faultsInjected: 1,
      outageSeconds,
      jobs: all.length,
      artifactBytes: ARTIFACT_BYTES,
      uploadAttempts: uploads.length,
      duplicates: duplicates.length,
      lost: done.filter((j) => /^lost/.test(j.statusReason ?? '')).length,
      integrityCheck: db.integrity,
      impossibleStates: db.impossible.length,
    });
    expect(db.integrity).toBe('ok');
    expect(db.impossible).toEqual([]);
  });
});
