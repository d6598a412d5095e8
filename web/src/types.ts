/** The API's shapes, from the SDK's own type file (types only: nothing of the SDK is bundled). */
export type { ArtifactView, ClusterView, JobCountsView, JobEventView, JobStatus, JobSummaryView, JobView, OutputsView, RenderView } from '../../src/client/types.js';
import type { JobStatus } from '../../src/client/types.js';

export const STATUSES: readonly JobStatus[] = ['pending', 'idle', 'running', 'completed', 'failed', 'killed', 'deleted'];
export const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'killed', 'deleted'];

/** GET /workflows/{id} (the SDK's WorkflowView lives beside Node-only code). */
export interface WorkflowJob {
  id: number;
  name: string;
  index: number;
  parameters: Record<string, string>;
  cluster: string;
  status: JobStatus;
  statusReason: string | null;
  nativeId: string | null;
}

export interface WorkflowInfo {
  id: number;
  name: string;
  labels: Record<string, string>;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'deleted';
  progress: { total: number; completed: number; failed: number; deleted: number; running: number; waiting: number };
  createdAt: number;
  deletedAt: number | null;
  reruns: number;
  jobs: WorkflowJob[];
  dependencies?: Record<string, string[]>;
}
