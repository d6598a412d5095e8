/**
 * Options every adapter that renders the common runner accepts from a cluster file's `adapter:`
 * block. Each adapter spreads these into its own strict schema, so an option one scheduler does
 * not know is still an unknown key there.
 */
import { z } from 'zod';

export const runnerOptionShape = {
  /** Seconds sidecars get between SIGTERM and SIGKILL at the end of a job (default 5). */
  sidecarGraceSeconds: z.number().int().min(0).max(3600).optional(),
  /** Runtime for container tasks that name none (default apptainer). */
  containerRuntime: z.enum(['apptainer', 'singularity']).optional(),
};
