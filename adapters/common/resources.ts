/**
 * Resource arithmetic shared by every scheduler adapter, so that Slurm's `--ntasks-per-node`
 * and PBS's `mpiprocs` (and the runner's `HPCB_*` variables) are derived from one place.
 */
import { MPI_TASK_TYPES, type JobSpec, type Task, type TaskType } from '../../src/domain/jobSpec.js';

export type MpiTaskType = Exclude<TaskType, 'basic' | 'sidecar'>;

export function isMpiTask(task: Task): task is Task & { type: MpiTaskType } {
  return MPI_TASK_TYPES.includes(task.type);
}

/** GB (the definition's unit, fractions allowed) to whole MB, rounded up so 0.001 GB is not 0. */
export function gbToMb(gb: number): number {
  return Math.max(1, Math.ceil(gb * 1024));
}

/** Memory per node in MB when the definition says (memory, or memoryPerCpu × cpus). */
export function memoryPerNodeMb(spec: JobSpec): number | undefined {
  const r = spec.resources;
  if (r.memory !== undefined) return gbToMb(r.memory);
  if (r.memoryPerCpu !== undefined) return gbToMb(r.memoryPerCpu) * r.cpus;
  return undefined;
}

export interface ProcessLayout {
  /** Processes (MPI ranks, or 1 for a serial job) per node. */
  tasksPerNode: number;
  /** CPUs given to each of those processes. */
  cpusPerTask: number;
}

/**
 * How the per-node CPUs are split into processes.
 *
 * - No MPI task: one process per node with all `cpus` (threads are the user's business).
 * - MPI tasks: ranks per node = the largest `procsPerNode ?? cpus` among the MPI tasks, and each
 *   rank gets floor(cpus / ranks) CPUs (hybrid MPI+OpenMP). When `cpus` is not a multiple of the
 *   rank count the remainder is not requested: asking for more than `cpus` could make the job
 *   unrunnable on nodes of exactly that size, asking for less only costs the spare cores.
 */
export function processLayout(spec: JobSpec): ProcessLayout {
  const cpus = spec.resources.cpus;
  const mpi = spec.tasks.filter(isMpiTask);
  if (mpi.length === 0) return { tasksPerNode: 1, cpusPerTask: cpus };
  const tasksPerNode = Math.max(...mpi.map((t) => t.procsPerNode ?? cpus));
  return { tasksPerNode, cpusPerTask: Math.max(1, Math.floor(cpus / tasksPerNode)) };
}

/** Ranks for one MPI task across all nodes: nodes × (procsPerNode ?? cpus). */
export function mpiRanks(task: Task, spec: JobSpec): number {
  return spec.resources.nodes * (task.procsPerNode ?? spec.resources.cpus);
}
