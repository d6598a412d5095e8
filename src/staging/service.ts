/**
 * The data half of the bridge, as the API and the engine see it. Implemented in this folder
 * (artifact store, cluster artifact cache, output collection, log reading); the Bridge holds
 * one instance as `bridge.staging`.
 *
 * Every name here is confined: artifact names are validated, output names are relative to the
 * job directory, and nothing follows a symlink out of the job directory or the user's store.
 */
import type { Readable } from 'node:stream';

export interface ArtifactInfo {
  name: string;
  size: number;
  sha256: string;
  createdAt: number;
}

export interface OutputInfo {
  /** Path relative to the job directory (directories appear as `<name>.tar.gz`). */
  name: string;
  size: number;
  sha256: string;
  kind: 'file' | 'directory';
}

export interface OutputReport {
  outputs: OutputInfo[];
  /** Patterns that matched nothing, entries skipped (symlinks out, over the size cap) and why. */
  problems: { name: string; reason: string }[];
}

export interface LogChunk {
  data: Buffer;
  /** Where the next read should start. */
  nextOffset: number;
  /** The job is terminal and this read reached the end of the file. */
  complete: boolean;
}

export interface StagingService {
  /** Stream an upload into the owner's content-addressed store (temp + rename). */
  putArtifact(owner: string, name: string, body: Readable, opts?: { expectedSha256?: string; maxBytes?: number }): Promise<ArtifactInfo>;
  listArtifacts(owner: string): ArtifactInfo[];
  getArtifact(owner: string, name: string): ArtifactInfo | undefined;
  /** True if it existed. */
  deleteArtifact(owner: string, name: string): boolean;

  /** Outputs collected for a job (empty until stage-out has run). */
  listOutputs(jobId: number, owner: string): OutputReport;
  /** A byte range of one collected output, streamed from the daemon's store. */
  openOutput(jobId: number, owner: string, name: string, range?: { start: number; end?: number }): Promise<{ stream: Readable; size: number; sha256: string; start: number; end: number }>;

  /** A task's stdout or stderr from `offset` (from the cluster while running, from the store after). */
  readLog(jobId: number, owner: string, which: 'stdout' | 'stderr', opts?: { task?: number; offset?: number; maxBytes?: number }): Promise<LogChunk>;
}
