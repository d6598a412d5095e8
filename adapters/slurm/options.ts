/**
 * What a cluster file's `adapter:` block may set for `scheduler: slurm` (validated by the loader,
 * src/settings/schema.ts; unknown keys are configuration problems).
 */
import { z } from 'zod';
import { runnerOptionShape } from '../common/options.js';

export const slurmOptions = z.strictObject({
  /**
   * Where finished jobs are looked up once squeue forgets them: 'slurmdbd' (sacct), 'jobcomp'
   * (`sacct -c`, for jobcomp/filetxt sites) or 'none' (no history: exit-code files only).
   */
  accounting: z.enum(['slurmdbd', 'jobcomp', 'none']).optional(),
  /** `#!/bin/bash -l` for sites whose module setup lives in login profiles. */
  shebang: z.string().regex(/^#!\/\S*bash( -l)?$/, 'must run bash, e.g. "#!/bin/bash" or "#!/bin/bash -l"').optional(),
  ...runnerOptionShape,
});
export type SlurmConfigOptions = z.infer<typeof slurmOptions>;
