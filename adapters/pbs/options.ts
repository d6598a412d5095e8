/**
 * What a cluster file's `adapter:` block may set for `scheduler: pbs` (validated by the loader,
 * src/settings/schema.ts; unknown keys are configuration problems). The flavor stays a top-level
 * key of the cluster file: it picks the dialect, as `scheduler` picks the adapter.
 */
import { z } from 'zod';
import { runnerOptionShape } from '../common/options.js';

export const pbsOptions = z.strictObject({
  /** Torque only: 'auto' (XML, falling back to `qstat -f -1` text), 'xml' or 'text'. */
  torqueStatusFormat: z.enum(['auto', 'xml', 'text']).optional(),
  /**
   * Longest job name the server accepts (default 230 on PBS Pro, 15 on Torque). Below 15 the
   * bridge's tags could not be written at all, so a smaller value is refused here rather than on
   * the first submission.
   */
  maxJobNameLength: z.number().int().min(15).max(4096).optional(),
  /** Render the `%p` limit of array jobs (default true; PBS Pro older than 2020.1 refuses it). */
  arrayParallelLimit: z.boolean().optional(),
  /** Submit a workflow factory as one array (default: true on pbspro, false on torque). */
  nativeArrays: z.boolean().optional(),
  /**
   * The server's max_array_size (`qmgr -c 'print server'`): the most subjobs one array may have,
   * so a larger workflow factory is submitted as several arrays. Default 10000, PBS Pro's own.
   */
  maxArraySize: z.number().int().min(4).max(10_000_000).optional(),
  /** Hand same-cluster workflow dependencies to the scheduler (default: true on pbspro, false on torque). */
  nativeDependencies: z.boolean().optional(),
  /**
   * Absolute directory of the PBS client commands, e.g. /opt/pbs/bin. Needed where another qsub
   * comes first on the non-interactive PATH the bridge's commands run with: Debian's Slurm
   * Torque wrappers install qsub/qstat/qdel in /usr/bin, and OpenPBS's own profile script only
   * appends /opt/pbs/bin (and is read by login shells only). A directory is explicit where a PATH
   * edit in a login profile would change every user's qsub, Torque flavor included.
   */
  commandDir: z.string().regex(/^\/[A-Za-z0-9_./+-]*$/, 'must be an absolute directory (letters, digits and _ . / + - only)').optional(),
  ...runnerOptionShape,
});
export type PbsConfigOptions = z.infer<typeof pbsOptions>;
