/**
 * Which adapter drives a cluster, from its configuration.
 */
import type { SchedulerAdapter } from './domain/adapter.js';
import type { ClusterConfig } from './settings/schema.js';
import { directAdapter } from '../adapters/direct/index.js';
import { slurmAdapter } from '../adapters/slurm/index.js';
import { createPbsAdapter } from '../adapters/pbs/index.js';

export function adapterFor(c: ClusterConfig): SchedulerAdapter {
  switch (c.scheduler) {
    case 'slurm':
      return slurmAdapter;
    case 'pbs':
      return createPbsAdapter({
        flavor: c.flavor ?? 'pbspro',
        ...(c.nativeArrays !== undefined ? { nativeArrays: c.nativeArrays } : {}),
        ...(c.nativeDependencies !== undefined ? { nativeDependencies: c.nativeDependencies } : {}),
      });
    case 'direct':
      return directAdapter;
  }
}
