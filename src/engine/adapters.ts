/**
 * Which adapter drives a cluster, from its configuration.
 */
import type { SchedulerAdapter } from '../domain/adapter.js';
import { BridgeError } from '../domain/errors.js';
import type { ClusterConfig } from '../settings/schema.js';
import { slurmAdapter } from '../../adapters/slurm/index.js';
import { createPbsAdapter } from '../../adapters/pbs/index.js';

export function adapterFor(c: ClusterConfig): SchedulerAdapter {
  switch (c.scheduler) {
    case 'slurm':
      return slurmAdapter;
    case 'pbs':
      return createPbsAdapter({ flavor: c.flavor ?? 'pbspro' });
    case 'direct':
    default:
      throw new BridgeError('INVALID_CONFIG', `cluster ${c.name}: scheduler "${c.scheduler}" is not available yet`);
  }
}
