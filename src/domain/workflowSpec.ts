/**
 * The workflow definition: PROMINENCE's vocabulary (jobs, dependencies, factories, policies)
 * with three of its known defects designed out:
 *   - dependencies name jobs exactly (a job "a" never matches "ab" by substring);
 *   - the repeat factory's field is `number` everywhere; `num` is rejected by name, with a hint,
 *     instead of being accepted by the client and refused by the server;
 *   - sweep values are computed as start + i*step rounded to the inputs' decimal precision, so
 *     0.1 steps print 0.3, never 0.30000000000000004 (the value ends up in file names).
 *
 * Pure: no I/O. `expandWorkflow` turns a valid definition into concrete per-instance job
 * definitions, each re-validated with the job schema after substitution.
 */
import { z } from 'zod';
import { WorkflowNotificationsSchema } from './notifications.js';
import { invalidDefinition, JobSpecSchema, zodProblems, type FieldProblem, type JobSpec } from './jobSpec.js';

const paramName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'parameter names must match [A-Za-z_][A-Za-z0-9_]* (they become environment variables)');
const jobNameRef = z.string().min(1, 'must not be empty').max(256);
const finite = z.number().refine((v) => Number.isFinite(v), 'must be a finite number');

/** Instances a single workflow may expand to: a guard against a typo'd step filling the store. */
export const MAX_INSTANCES = 10_000;

const SweepSchema = z.strictObject({
  type: z.literal('parameterSweep'),
  name: z.string().max(128).default(''),
  jobs: z.array(jobNameRef).min(1, 'must name at least one job'),
  parameters: z
    .array(z.strictObject({ name: paramName, start: finite, end: finite, step: finite.refine((v) => v > 0, 'must be greater than 0') }))
    .min(1, 'needs at least one parameter'),
});

const ZipSchema = z.strictObject({
  type: z.literal('zip'),
  name: z.string().max(128).default(''),
  jobs: z.array(jobNameRef).min(1, 'must name at least one job'),
  parameters: z
    .array(
      z.strictObject({
        name: paramName,
        values: z
          .array(z.union([z.string().max(4096).refine((v) => !/[\0\n\r]/.test(v), 'must not contain NUL or newlines'), finite]))
          .min(1, 'needs at least one value'),
      }),
    )
    .min(1, 'needs at least one parameter'),
});

const RepeatSchema = z.strictObject({
  type: z.literal('repeat'),
  name: z.string().max(128).default(''),
  jobs: z.array(jobNameRef).min(1, 'must name at least one job'),
  number: z.number().int('must be a whole number').min(1, 'must be at least 1').max(MAX_INSTANCES),
});

export const FactorySchema = z.discriminatedUnion('type', [SweepSchema, ZipSchema, RepeatSchema]);
export type Factory = z.infer<typeof FactorySchema>;

export const WorkflowPoliciesSchema = z.strictObject({
  /** Applied to every job of the workflow (a job's own larger value is kept). */
  maximumRetries: z.number().int().min(0).max(10).default(0),
  /** At most this many instances of one factory run at once (the array's %P on Slurm). */
  maximumParallel: z.number().int().min(1).max(100_000).optional(),
});

const labelKey = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'label keys may contain only letters, digits, _ . - (at most 64)');

export const WorkflowSpecSchema = z.strictObject({
  name: z.string().max(256).regex(/^[A-Za-z0-9 _./-]*$/, 'may contain only letters, digits, space, _ . / -').default(''),
  labels: z.record(labelKey, z.string().max(512).refine((v) => !/[\0\n\r]/.test(v), 'must not contain NUL or newlines')).default({}),
  /** Job definitions, validated as jobs after substitution; here only their shape is loose. */
  jobs: z.array(z.record(z.string(), z.unknown())).min(1, 'needs at least one job').max(1000),
  dependencies: z.record(jobNameRef, z.array(jobNameRef)).default({}),
  factories: z.array(FactorySchema).max(1000).default([]),
  policies: WorkflowPoliciesSchema.default({ maximumRetries: 0 }),
  /** Told when the whole workflow has ended (every current job terminal). */
  notifications: WorkflowNotificationsSchema.optional(),
});
export type WorkflowSpec = z.infer<typeof WorkflowSpecSchema>;
export type WorkflowSpecInput = z.input<typeof WorkflowSpecSchema>;

/** One concrete job of a workflow: a job definition (or one factory instance of it). */
export interface WorkflowInstance {
  jobName: string;
  /** 0-based instance index inside its factory; 0 for a job without a factory. */
  index: number;
  /** Parameter values as strings, exactly as substituted. */
  params: Record<string, string>;
  /** Whether this job comes from a factory (and so may run as a native array). */
  factory: boolean;
  spec: JobSpec;
}

export interface WorkflowPlan {
  spec: WorkflowSpec;
  /** Job names in a topological order (parents before children). */
  order: string[];
  /** parent name -> child names (exact). */
  children: Map<string, string[]>;
  /** child name -> parent names. */
  parents: Map<string, string[]>;
  /** Instances grouped by job name, in index order. */
  instances: Map<string, WorkflowInstance[]>;
}

// --------------------------------------------------------------------------- numbers

/** Decimal places a number is written with (1e-7 -> 7, 0.25 -> 2, 3 -> 0). */
function decimals(x: number): number {
  const s = String(x);
  const m = /^-?\d*(?:\.(\d+))?(?:e([+-]\d+))?$/i.exec(s);
  if (!m) return 0;
  const frac = m[1]?.length ?? 0;
  const exp = m[2] ? Number(m[2]) : 0;
  return Math.max(0, frac - exp);
}

/**
 * The values of one sweep dimension. Each is start + i*step rounded to the precision the user
 * wrote (max of start's and step's decimals), so accumulation error never reaches a file name.
 */
export function sweepValues(start: number, end: number, step: number): string[] {
  const d = Math.min(Math.max(decimals(start), decimals(step)), 15);
  // A tolerance of 1e-9 steps keeps an end that is an exact multiple (0 to 1 by 0.1) inclusive.
  const n = Math.floor((end - start) / step + 1e-9) + 1;
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(String(Number((start + i * step).toFixed(d))));
  return out;
}

// --------------------------------------------------------------------------- substitution

/**
 * Replace `$name` and `${name}` for the given parameters only. A longer identifier is never
 * cut short (`$xy` is left alone when only `x` is a parameter), matching how the shell reads it.
 */
export function substitute(text: string, params: Record<string, string>): string {
  // `$$` is the shell's own (the PID): skipped whole so `$$a` never becomes `$<value of a>`.
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    if (whole === '$$') return whole;
    const name = (braced ?? bare)!;
    return Object.prototype.hasOwnProperty.call(params, name) ? params[name]! : whole;
  });
}

function instanceParams(f: Factory): Record<string, string>[] {
  if (f.type === 'repeat') return Array.from({ length: f.number }, () => ({}));
  if (f.type === 'zip') {
    const n = f.parameters[0]!.values.length;
    return Array.from({ length: n }, (_, i) => Object.fromEntries(f.parameters.map((p) => [p.name, String(p.values[i])])));
  }
  // Cartesian product, the first parameter varying slowest (row-major, like nested loops).
  let rows: Record<string, string>[] = [{}];
  for (const p of f.parameters) {
    const vals = sweepValues(p.start, p.end, p.step);
    rows = rows.flatMap((r) => vals.map((v) => ({ ...r, [p.name]: v })));
  }
  return rows;
}

function factorySize(f: Factory): number {
  if (f.type === 'repeat') return f.number;
  if (f.type === 'zip') return f.parameters[0]!.values.length;
  return f.parameters.reduce((acc, p) => acc * Math.max(0, Math.floor((p.end - p.start) / p.step + 1e-9) + 1), 1);
}

function applyParams(raw: Record<string, unknown>, params: Record<string, string>, index: number, factory: boolean): Record<string, unknown> {
  if (!factory) return raw;
  const sub = (s: unknown) => (typeof s === 'string' ? substitute(s, params) : s);
  // In a task's command only values that are plain shell words are written into the text: any
  // other value ($(...), quotes, ;, spaces) is left as `$name` for bash to expand from the
  // environment set below, so it stays data and is never parsed as shell syntax.
  const plain = Object.fromEntries(Object.entries(params).filter(([, v]) => /^[A-Za-z0-9_@%+=:,./-]*$/.test(v)));
  const subCmd = (s: unknown) => (typeof s === 'string' ? substitute(s, plain) : s);
  const env: Record<string, string> = { HPCB_INSTANCE_INDEX: String(index) };
  for (const [k, v] of Object.entries(params)) {
    env[`HPCB_PARAM_${k}`] = v;
    env[k] = v;
  }
  const out: Record<string, unknown> = { ...raw };
  if (Array.isArray(raw.tasks)) {
    out.tasks = raw.tasks.map((t) =>
      t && typeof t === 'object'
        ? { ...(t as Record<string, unknown>), cmd: subCmd((t as Record<string, unknown>).cmd), env: { ...env, ...((t as { env?: Record<string, string> }).env ?? {}) } }
        : t,
    );
  }
  if (Array.isArray(raw.outputFiles)) out.outputFiles = raw.outputFiles.map(sub);
  if (Array.isArray(raw.outputDirs)) out.outputDirs = raw.outputDirs.map(sub);
  if (Array.isArray(raw.artifacts)) {
    out.artifacts = raw.artifacts.map((a) => (a && typeof a === 'object' ? { ...(a as Record<string, unknown>), url: sub((a as Record<string, unknown>).url) } : a));
  }
  return out;
}

// --------------------------------------------------------------------------- validation

/**
 * Validate a workflow and expand it into concrete job definitions. Throws INVALID_DEFINITION
 * naming every problem: unknown or duplicate job names, cycles (with the cycle spelled out),
 * unequal zip lengths, a job in two factories, and any job definition that is invalid before
 * or after substitution.
 */
export function parseWorkflow(input: unknown): WorkflowPlan {
  const problems: FieldProblem[] = [];
  // `num` is what PROMINENCE's client sent for repeat; say what it should be.
  if (input && typeof input === 'object' && Array.isArray((input as { factories?: unknown }).factories)) {
    (input as { factories: unknown[] }).factories.forEach((f, i) => {
      if (f && typeof f === 'object' && 'num' in f) problems.push({ field: `factories[${i}].num`, message: 'unknown field; the repeat factory takes "number"' });
    });
  }
  const r = WorkflowSpecSchema.safeParse(input);
  if (!r.success) throw invalidDefinition([...problems, ...zodProblems(r.error).filter((p) => !problems.some((q) => q.field === p.field))], 'workflow definition');
  if (problems.length) throw invalidDefinition(problems, 'workflow definition');
  const spec = r.data;

  // Jobs: each a valid job definition with a unique, non-empty name.
  const names: string[] = [];
  const raws = new Map<string, Record<string, unknown>>();
  spec.jobs.forEach((raw, i) => {
    const parsed = JobSpecSchema.safeParse(raw);
    if (!parsed.success) {
      for (const p of zodProblems(parsed.error)) problems.push({ field: `jobs[${i}].${p.field}`, message: p.message });
      return;
    }
    const name = parsed.data.name;
    // A sweep of a thousand instances would send a thousand messages: one per workflow instead.
    if (parsed.data.notifications !== undefined) problems.push({ field: `jobs[${i}].notifications`, message: 'is not allowed on a workflow\'s jobs; give the workflow notifications with event "workflowFinished"' });
    if (!name) problems.push({ field: `jobs[${i}].name`, message: 'is required in a workflow (dependencies and factories refer to jobs by name)' });
    else if (raws.has(name)) problems.push({ field: `jobs[${i}].name`, message: `duplicate job name "${name}"` });
    else {
      names.push(name);
      raws.set(name, raw);
    }
  });
  const known = (n: string) => raws.has(n);

  const children = new Map<string, string[]>(names.map((n) => [n, []]));
  const parents = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const [parent, kids] of Object.entries(spec.dependencies)) {
    if (!known(parent)) {
      problems.push({ field: `dependencies.${parent}`, message: `no job named "${parent}" in this workflow` });
      continue;
    }
    kids.forEach((kid, i) => {
      if (!known(kid)) problems.push({ field: `dependencies.${parent}[${i}]`, message: `no job named "${kid}" in this workflow` });
      else if (!children.get(parent)!.includes(kid)) {
        children.get(parent)!.push(kid);
        parents.get(kid)!.push(parent);
      }
    });
  }

  const factoryOf = new Map<string, Factory>();
  let total = 0;
  spec.factories.forEach((f, i) => {
    f.jobs.forEach((j, k) => {
      if (!known(j)) problems.push({ field: `factories[${i}].jobs[${k}]`, message: `no job named "${j}" in this workflow` });
      else if (factoryOf.has(j)) problems.push({ field: `factories[${i}].jobs[${k}]`, message: `job "${j}" is already used by another factory` });
      else factoryOf.set(j, f);
    });
    if (f.type !== 'repeat') {
      const seen = new Set<string>();
      f.parameters.forEach((p, k) => {
        if (seen.has(p.name)) problems.push({ field: `factories[${i}].parameters[${k}].name`, message: `duplicate parameter "${p.name}"` });
        seen.add(p.name);
      });
    }
    if (f.type === 'parameterSweep') {
      f.parameters.forEach((p, k) => {
        if (p.end < p.start) problems.push({ field: `factories[${i}].parameters[${k}].end`, message: 'must not be less than start' });
      });
    }
    if (f.type === 'zip') {
      const n = f.parameters[0]!.values.length;
      f.parameters.forEach((p, k) => {
        if (p.values.length !== n) problems.push({ field: `factories[${i}].parameters[${k}].values`, message: `has ${p.values.length} values; every zip parameter needs the same number (${n})` });
      });
    }
    total += factorySize(f) * f.jobs.length;
  });
  // A factory's job becomes its instances; every other job is one.
  const plain = names.filter((n) => !factoryOf.has(n)).length;
  if (total + plain > MAX_INSTANCES) problems.push({ field: 'factories', message: `expands to more than ${MAX_INSTANCES} jobs` });

  const order = problems.length ? [] : topoOrder(names, children, problems);
  if (problems.length) throw invalidDefinition(problems, 'workflow definition');

  const instances = new Map<string, WorkflowInstance[]>();
  for (const name of names) {
    const raw = raws.get(name)!;
    const f = factoryOf.get(name);
    const rows = f ? instanceParams(f) : [{}];
    const list: WorkflowInstance[] = [];
    const jobIdx = spec.jobs.indexOf(raw);
    for (let index = 0; index < rows.length; index++) {
      const params = rows[index]!;
      const parsed = JobSpecSchema.safeParse(applyParams(raw, params, index, f !== undefined));
      if (!parsed.success) {
        for (const p of zodProblems(parsed.error)) problems.push({ field: `jobs[${jobIdx}].${p.field}`, message: `${p.message} (instance ${index}, ${JSON.stringify(params)})` });
        break;
      }
      const s = parsed.data;
      if (spec.policies.maximumRetries > s.policies.maximumRetries) s.policies.maximumRetries = spec.policies.maximumRetries;
      s.labels = { ...spec.labels, ...s.labels };
      list.push({ jobName: name, index, params, factory: f !== undefined, spec: s });
    }
    instances.set(name, list);
  }
  if (problems.length) throw invalidDefinition(problems, 'workflow definition');
  return { spec, order, children, parents, instances };
}

/** Kahn's algorithm; on a cycle, name one cycle in full (a -> b -> a). */
function topoOrder(names: string[], children: Map<string, string[]>, problems: FieldProblem[]): string[] {
  const indeg = new Map(names.map((n) => [n, 0]));
  for (const kids of children.values()) for (const k of kids) indeg.set(k, indeg.get(k)! + 1);
  const queue = names.filter((n) => indeg.get(n) === 0);
  const order: string[] = [];
  while (queue.length) {
    const n = queue.shift()!;
    order.push(n);
    for (const k of children.get(n)!) {
      indeg.set(k, indeg.get(k)! - 1);
      if (indeg.get(k) === 0) queue.push(k);
    }
  }
  if (order.length === names.length) return order;
  // Walk from a node left in the cycle until a node repeats.
  const left = new Set(names.filter((n) => !order.includes(n)));
  const path: string[] = [];
  let cur = [...left][0]!;
  while (!path.includes(cur)) {
    path.push(cur);
    cur = children.get(cur)!.find((k) => left.has(k))!;
  }
  const cycle = [...path.slice(path.indexOf(cur)), cur];
  problems.push({ field: `dependencies.${cycle[0]}`, message: `dependency cycle: ${cycle.join(' -> ')}` });
  return [];
}

