/**
 * The job definition: PROMINENCE's vocabulary (tasks, resources, inputs, artifacts,
 * outputFiles/outputDirs, policies) extended with HPC placement (cluster, queue, account,
 * qos, reservation, constraint). Validation rejects unknown fields at every level and names
 * the offending field; nothing reaches a cluster until the whole definition is valid.
 *
 * Strings that end up in a batch script are restricted here where the scheduler itself is
 * picky (names, queue/account) and otherwise quoted by src/domain/quote.ts.
 */
import { z } from 'zod';
import { BridgeError } from './errors.js';
import { JobNotificationsSchema } from './notifications.js';

const encoder = new TextEncoder();
const utf8Bytes = (s: string): number => encoder.encode(s).length;

/** A file name relative to the job directory: no absolute paths, no `..`, no control bytes. */
export function relativePathProblem(p: string): string | undefined {
  if (p.length === 0) return 'must not be empty';
  if (p.length > 1024) return 'is longer than 1024 characters';
  // Byte limits of Linux file systems (NAME_MAX 255 per component; the whole path, with the job
  // directory in front, must stay well under PATH_MAX 4096): refused here, by field, rather than
  // failing later on the cluster with ENAMETOOLONG.
  if (utf8Bytes(p) > 1024) return 'is longer than 1024 bytes (UTF-8)';
  const long = p.split('/').find((seg) => utf8Bytes(seg) > 255);
  if (long !== undefined) return `has a component of ${utf8Bytes(long)} bytes; at most 255 are allowed`;
  if (p.includes('\0')) return 'must not contain a NUL byte';
  if (/[\n\r]/.test(p)) return 'must not contain a newline';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'must not contain control characters';
  if (p.startsWith('/')) return 'must be relative to the job directory, not absolute';
  if (p.split('/').some((seg) => seg === '..')) return "must not contain a '..' component";
  // `./.hpcb/exit` or `a//` spell the same places as `.hpcb/exit` and `a/`: compare the
  // normalised first component, so an input file cannot plant the bridge's own records.
  const first = p.split('/').find((seg) => seg !== '' && seg !== '.');
  if (first === '.hpcb') return "must not point into the bridge's own .hpcb directory";
  return undefined;
}

const relPath = (what: string) =>
  z.string().superRefine((v, ctx) => {
    const problem = relativePathProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: `${what} ${problem}` });
  });

/** Output patterns may use glob characters but are otherwise held to the same rules as paths. */
const outputPattern = relPath('output path');

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names must match [A-Za-z_][A-Za-z0-9_]*');
const envValue = z.string().refine((v) => !v.includes('\0'), 'environment values must not contain a NUL byte');

/** Names and scheduler words: what Slurm and PBS accept without surprises. */
const schedulerWord = z.string().regex(/^[A-Za-z0-9_.+-]{1,128}$/, 'may contain only letters, digits, _ . + - (at most 128)');

const posInt = z.number().int('must be a whole number').positive('must be at least 1');

export const TASK_TYPES = ['basic', 'sidecar', 'openmpi', 'mpich', 'intelmpi', 'srun'] as const;
export type TaskType = (typeof TASK_TYPES)[number];
export const MPI_TASK_TYPES: readonly TaskType[] = ['openmpi', 'mpich', 'intelmpi', 'srun'];

/**
 * Container runtimes a task may name. apptainer and singularity run an image file or URI as the
 * user; podman runs an image from the job's own account's rootless storage (see
 * adapters/common/podman.ts).
 */
export const CONTAINER_RUNTIMES = ['apptainer', 'singularity', 'podman'] as const;
export type ContainerRuntime = (typeof CONTAINER_RUNTIMES)[number];

/**
 * What podman accepts as an image reference, loosely ([registry[:port]/]name[:tag][@digest]):
 * podman itself checks the rest. Above all it cannot start with '-', where podman would read an
 * option, nor hold spaces.
 */
const PODMAN_IMAGE = /^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$/;

export const TaskSchema = z.strictObject({
  cmd: z.string().min(1, 'must not be empty').max(65536).refine((v) => !v.includes('\0'), 'must not contain a NUL byte'),
  env: z.record(envName, envValue).optional(),
  workdir: relPath('workdir').optional(),
  type: z.enum(TASK_TYPES).default('basic'),
  procsPerNode: posInt.optional(),
  image: z.string().min(1).max(1024).refine((v) => !/[\0\n\r]/.test(v), 'must not contain NUL or newlines').optional(),
  runtime: z.enum(CONTAINER_RUNTIMES).optional(),
});
export type Task = z.infer<typeof TaskSchema>;

export const ResourcesSchema = z.strictObject({
  nodes: posInt.max(100000).default(1),
  cpus: posInt.max(100000).default(1),
  /** GB per node. Fractions allowed (0.5 = 512 MB). */
  memory: z.number().positive('must be greater than 0').max(1e6).optional(),
  /** GB per CPU. */
  memoryPerCpu: z.number().positive('must be greater than 0').max(1e6).optional(),
  /** Minutes. */
  walltime: posInt.max(60 * 24 * 366).optional(),
  gpus: z.number().int().min(0).max(1024).optional(),
  /** GB of scratch disk; honoured where the scheduler can express it. */
  disk: z.number().positive().max(1e7).optional(),
});
export type Resources = z.infer<typeof ResourcesSchema>;

export const InputFileSchema = z.strictObject({
  filename: relPath('filename'),
  /** base64 */
  content: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64'),
  executable: z.boolean().default(false),
});
export type InputFile = z.infer<typeof InputFileSchema>;

export const ArtifactRefSchema = z.strictObject({
  /** The name of an uploaded artifact, or an http(s) URL fetched by the daemon. */
  url: z.string().min(1).max(2048).refine((v) => !/[\0\n\r]/.test(v), 'must not contain NUL or newlines'),
  /** "<dir>:<absolute path>": bind an extracted directory into a container task. */
  mountpoint: z
    .string()
    .regex(/^[^:\0\n]+:\/[^\0\n]*$/, 'must look like "<directory>:<absolute path in the container>"')
    .optional(),
  executable: z.boolean().default(false),
});
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;

export const PoliciesSchema = z.strictObject({
  maximumRetries: z.number().int().min(0).max(10).default(0),
  maximumTaskRetries: z.number().int().min(0).max(10).default(0),
  /** Minutes; 0 means wait as long as the scheduler keeps it. */
  maximumTimeInQueue: z.number().int().min(0).max(44640).default(0),
  ignoreTaskFailures: z.boolean().default(false),
  priority: z.number().int().min(0).max(1000000).optional(),
  leaveInQueue: z.boolean().default(false),
});
export type Policies = z.infer<typeof PoliciesSchema>;

/** Labels are indexed per job (job_labels); bound how many one job can add. */
export const MAX_LABELS = 64;
const labelKey = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'label keys may contain only letters, digits, _ . - (at most 64)');
const labelValue = z.string().max(512).refine((v) => !/[\0\n\r]/.test(v), 'must not contain NUL or newlines');

export const JobSpecSchema = z
  .strictObject({
    name: z
      .string()
      .max(256)
      .regex(/^[A-Za-z0-9 _./-]*$/, 'may contain only letters, digits, space, _ . / -')
      .default(''),
    labels: z
      .record(labelKey, labelValue)
      .refine((l) => Object.keys(l).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`)
      .default({}),
    tasks: z.array(TaskSchema).min(1, 'needs at least one task').max(100),
    resources: ResourcesSchema.default({ nodes: 1, cpus: 1 }),
    inputs: z.array(InputFileSchema).max(1000).default([]),
    artifacts: z.array(ArtifactRefSchema).max(1000).default([]),
    outputFiles: z.array(outputPattern).max(1000).default([]),
    outputDirs: z.array(relPath('output directory')).max(1000).default([]),
    policies: PoliciesSchema.default({
      maximumRetries: 0,
      maximumTaskRetries: 0,
      maximumTimeInQueue: 0,
      ignoreTaskFailures: false,
      leaveInQueue: false,
    }),
    /** Told when the job ends (webhook or e-mail); absent, not [], so older definitions compare equal. */
    notifications: JobNotificationsSchema.optional(),
    cluster: schedulerWord.optional(),
    queue: schedulerWord.optional(),
    account: schedulerWord.optional(),
    qos: schedulerWord.optional(),
    reservation: schedulerWord.optional(),
    /** Slurm --constraint / PBS feature expression: letters, digits and & | [ ] * ( ) , : */
    constraint: z
      .string()
      .regex(/^[A-Za-z0-9_.&|[\]*(),:-]{1,256}$/, 'may contain only letters, digits and _ . & | [ ] * ( ) , : -')
      .optional(),
  })
  .superRefine((job, ctx) => {
    const r = job.resources;
    if (r.memory !== undefined && r.memoryPerCpu !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['resources', 'memoryPerCpu'], message: 'give either memory or memoryPerCpu, not both' });
    }
    if (job.tasks.length > 0 && !job.tasks.some((t) => t.type !== 'sidecar')) {
      ctx.addIssue({ code: 'custom', path: ['tasks'], message: 'needs at least one task that is not a sidecar' });
    }
    job.tasks.forEach((t, i) => {
      if (t.procsPerNode !== undefined && t.procsPerNode > r.cpus) {
        ctx.addIssue({ code: 'custom', path: ['tasks', i, 'procsPerNode'], message: `must not exceed resources.cpus (${r.cpus})` });
      }
      if (t.procsPerNode !== undefined && !MPI_TASK_TYPES.includes(t.type)) {
        ctx.addIssue({ code: 'custom', path: ['tasks', i, 'procsPerNode'], message: `only applies to MPI task types (${MPI_TASK_TYPES.join(', ')})` });
      }
      if (t.runtime !== undefined && t.image === undefined) {
        ctx.addIssue({ code: 'custom', path: ['tasks', i, 'runtime'], message: 'needs an image' });
      }
      if (t.runtime === 'podman' && t.image !== undefined && !PODMAN_IMAGE.test(t.image)) {
        ctx.addIssue({ code: 'custom', path: ['tasks', i, 'image'], message: 'is not a podman image reference ([registry/]name[:tag][@digest]: letters, digits and . _ / : @ + -, not starting with -)' });
      }
      if (t.runtime === 'podman' && MPI_TASK_TYPES.includes(t.type)) {
        // The launcher would start one podman per rank, each in its own container, user namespace
        // and network view, where the MPI library finds no peers; the bridge does not run that.
        ctx.addIssue({ code: 'custom', path: ['tasks', i, 'runtime'], message: `podman cannot run an MPI task (type "${t.type}"): use apptainer or singularity, or type "basic"` });
      }
      if (MPI_TASK_TYPES.includes(t.type) && /^\s*(mpirun|mpiexec|srun)\b/.test(t.cmd)) {
        ctx.addIssue({ code: 'custom', path: ['tasks', i, 'cmd'], message: `must not start with a launcher: the bridge adds it for type "${t.type}"` });
      }
    });
    if (r.nodes > 1 && !job.tasks.some((t) => MPI_TASK_TYPES.includes(t.type))) {
      ctx.addIssue({ code: 'custom', path: ['resources', 'nodes'], message: 'more than one node needs an MPI or srun task' });
    }
    const seen = new Set<string>();
    job.inputs.forEach((f, i) => {
      if (seen.has(f.filename)) ctx.addIssue({ code: 'custom', path: ['inputs', i, 'filename'], message: `duplicate input file "${f.filename}"` });
      seen.add(f.filename);
    });
  });

/** A job definition after validation and defaults. */
export type JobSpec = z.infer<typeof JobSpecSchema>;
/** What a user writes: defaults may be left out. */
export type JobSpecInput = z.input<typeof JobSpecSchema>;

export interface FieldProblem {
  field: string;
  message: string;
}

/** Render a zod path as a field name a person reads: tasks[0].cmd */
export function fieldName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(definition)';
}

export function zodProblems(error: z.ZodError): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ field: fieldName([...issue.path, key]), message: 'unknown field' });
      }
      continue;
    }
    if (issue.code === 'invalid_key') {
      // A record key that failed its own rule: say which rule, not just "Invalid key in record".
      const inner = issue.issues[0]?.message;
      problems.push({ field: fieldName(issue.path), message: inner ? `invalid key: ${inner}` : issue.message });
      continue;
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) {
      problems.push({ field: fieldName(issue.path), message: 'is required' });
      continue;
    }
    problems.push({ field: fieldName(issue.path), message: issue.message });
  }
  return problems;
}

export function invalidDefinition(problems: FieldProblem[], what = 'job definition'): BridgeError {
  const first = problems[0];
  const summary = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  return new BridgeError('INVALID_DEFINITION', `invalid ${what}: ${summary}`, {
    context: { field: first?.field, problems },
  });
}

/** Validate a job definition; throws INVALID_DEFINITION naming every bad field. */
export function parseJobSpec(input: unknown): JobSpec {
  const r = JobSpecSchema.safeParse(input);
  if (!r.success) throw invalidDefinition(zodProblems(r.error));
  return r.data;
}
