/**
 * Which adapter drives a cluster, built with the options of the cluster file's `adapter:` block
 * (already validated by the loader against the adapter's own schema).
 */
import type { SchedulerAdapter } from './domain/adapter.js';
import { ADAPTER_OPTIONS, type ClusterConfig } from './settings/schema.js';
import { createDirectAdapter } from '../adapters/direct/index.js';
import { createSlurmAdapter } from '../adapters/slurm/index.js';
import { createPbsAdapter } from '../adapters/pbs/index.js';

export function adapterFor(c: ClusterConfig): SchedulerAdapter {
  switch (c.scheduler) {
    case 'slurm':
      return createSlurmAdapter(ADAPTER_OPTIONS.slurm.parse(c.adapter ?? {}));
    case 'pbs': {
      const o = ADAPTER_OPTIONS.pbs.parse(c.adapter ?? {});
      const nativeArrays = o.nativeArrays ?? c.nativeArrays;
      const nativeDependencies = o.nativeDependencies ?? c.nativeDependencies;
      return createPbsAdapter({
        ...o,
        flavor: c.flavor ?? 'pbspro',
        ...(nativeArrays !== undefined ? { nativeArrays } : {}),
        ...(nativeDependencies !== undefined ? { nativeDependencies } : {}),
      });
    }
    case 'direct':
      return createDirectAdapter(ADAPTER_OPTIONS.direct.parse(c.adapter ?? {}));
  }
}
