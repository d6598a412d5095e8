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
  /**
   * Submit through Slurm's REST daemon instead of sbatch: `socket` is its Unix socket on the
   * login node (`{user}` stands for the account), reached through the SSH connection; it must
   * authenticate its peers by uid (rest_auth/local). A job whose directives the daemon's API
   * has no field for is still submitted with sbatch.
   */
  slurmrestd: z
    .strictObject({
      socket: z.string().regex(/^\/[^\0\n]*$/, 'must be an absolute path'),
      /** The environment jobs start with (sbatch would export the SSH session's). */
      environment: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names must match [A-Za-z_][A-Za-z0-9_]*'), z.string()).optional(),
    })
    .optional(),
  /**
   * The controller's MaxArraySize (slurm.conf; `scontrol show config`): an array index must be
   * below it, so a larger workflow factory is submitted as several arrays. Default 1001, Slurm's own.
   */
  maxArraySize: z.number().int().min(4).max(4_000_001).optional(),
  ...runnerOptionShape,
});
export type SlurmConfigOptions = z.infer<typeof slurmOptions>;
