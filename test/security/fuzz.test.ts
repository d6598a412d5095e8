/**
 * Property test: thousands of random and mutated job and workflow definitions POSTed to the
 * real API (direct adapter, engine stopped so nothing runs). Whatever arrives, the daemon
 * answers 2xx, 400 (naming a field) or 413, never a 5xx, and keeps serving.
 *
 * Reproduce a failure with HPCB_FUZZ_SEED=<seed printed below>; HPCB_FUZZ_RUNS scales it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startDaemon, type Daemon } from '../api/helpers.js';
import { hostilePayloads } from './hostile.js';

const SEED = process.env.HPCB_FUZZ_SEED ? Number(process.env.HPCB_FUZZ_SEED) : Date.now() % 2 ** 31;
const RUNS = process.env.HPCB_FUZZ_RUNS ? Number(process.env.HPCB_FUZZ_RUNS) : 1500;

let d: Daemon;
const tally = { requests: 0, ok: 0, refused: 0, tooLarge: 0 };
/** The daemon's JSON body limit here: a 413 is right for a body over it, and only for one. */
const MAX_JSON = 256 * 1024;

beforeAll(async () => {
  console.log(`[security] fuzz seed ${SEED} (HPCB_FUZZ_SEED=${SEED} reproduces it), ${RUNS} runs per property`);
  d = await startDaemon({ start: false, app: { maxJsonBytes: MAX_JSON } });
});
afterAll(async () => {
  console.log(`[security] fuzz: ${tally.requests} requests, ${tally.ok} accepted, ${tally.refused} refused with a field, ${tally.tooLarge} too large, 0 server errors`);
  await d?.close();
});

// ---------------------------------------------------------------- arbitraries

const hostile = hostilePayloads('/nonexistent-canary').map((p) => p.value);
const word = fc.oneof(fc.constantFrom('a', 'x.txt', 'out/*.dat', 'run-1', 'k', '', ' ', '.', '..', '.hpcb/exit', '/etc/passwd'), fc.string({ maxLength: 20 }), fc.constantFrom(...hostile));
const anyString = fc.oneof(word, fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 300 }));
const weird = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, [], {}, '', '0', 'true'),
  anyString,
);

const task = fc.record(
  {
    cmd: fc.oneof(fc.constantFrom('true', 'echo hi'), anyString),
    env: fc.dictionary(fc.oneof(fc.constantFrom('A', 'PATH', 'X_1'), anyString), anyString, { maxKeys: 3 }),
    workdir: word,
    type: fc.oneof(fc.constantFrom('basic', 'sidecar', 'openmpi', 'mpich', 'intelmpi', 'srun'), anyString),
    procsPerNode: fc.oneof(fc.integer({ min: -2, max: 64 }), weird),
    image: anyString,
    runtime: fc.constantFrom('apptainer', 'singularity', 'docker'),
  },
  { requiredKeys: ['cmd'] },
);

const jobDef = fc.record(
  {
    name: fc.oneof(fc.constantFrom('job', 'a b', 'x/y'), anyString),
    labels: fc.dictionary(anyString, anyString, { maxKeys: 4 }),
    tasks: fc.array(task, { maxLength: 3 }),
    resources: fc.record(
      {
        nodes: fc.oneof(fc.integer({ min: -1, max: 4 }), weird),
        cpus: fc.oneof(fc.integer({ min: -1, max: 64 }), weird),
        memory: fc.oneof(fc.double({ noNaN: true }), weird),
        memoryPerCpu: fc.double({ noNaN: true, min: 0, max: 10 }),
        walltime: fc.oneof(fc.integer({ min: -5, max: 10_000 }), weird),
        gpus: fc.integer({ min: -1, max: 8 }),
        disk: fc.double({ noNaN: true }),
      },
      { requiredKeys: [] },
    ),
    inputs: fc.array(fc.record({ filename: word, content: fc.oneof(fc.base64String({ maxLength: 64 }), anyString), executable: fc.oneof(fc.boolean(), weird) }, { requiredKeys: ['filename'] }), { maxLength: 3 }),
    artifacts: fc.array(fc.record({ url: fc.oneof(fc.constantFrom('data.tgz', 'https://example.invalid/x.tgz', 'file:///etc/passwd', 'http://127.0.0.1:1/x'), anyString), mountpoint: anyString, executable: fc.boolean() }, { requiredKeys: ['url'] }), { maxLength: 2 }),
    outputFiles: fc.array(word, { maxLength: 3 }),
    outputDirs: fc.array(word, { maxLength: 2 }),
    policies: fc.record({ maximumRetries: fc.integer({ min: -1, max: 12 }), maximumTimeInQueue: weird, ignoreTaskFailures: fc.boolean(), priority: fc.integer(), leaveInQueue: weird }, { requiredKeys: [] }),
    cluster: fc.oneof(fc.constant('here'), anyString),
    queue: word,
    account: word,
    qos: word,
    reservation: word,
    constraint: fc.oneof(fc.constantFrom('a&b', 'x|y', '[a*2]'), anyString),
  },
  { requiredKeys: [] },
);

/** Every path into a JSON value, for mutations. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

type Mutation = { at: number; op: 'set' | 'delete' | 'addKey' | 'wrap'; value: unknown; key: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({ at: fc.nat(), op: fc.constantFrom('set', 'delete', 'addKey', 'wrap'), value: weird, key: anyString });

function mutate(root: unknown, muts: Mutation[]): unknown {
  let doc: unknown = structuredClone(root);
  // Generated values are inserted as copies: fast-check hands out the same instance more than
  // once (the `[]` and `{}` constants of `weird`, values replayed while shrinking), and a later
  // 'key' mutation writing into a shared instance would make it grow across runs, even cyclic.
  const fresh = (m: Mutation): Mutation => ({ ...m, value: structuredClone(m.value) });
  for (const given of muts) {
    const m = fresh(given);
    const all = paths(doc);
    const path = all[m.at % all.length]!;
    if (path.length === 0) {
      doc = m.op === 'wrap' ? [doc] : m.op === 'set' ? m.value : doc;
      continue;
    }
    let parent = doc as Record<string | number, unknown>;
    for (const seg of path.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
    const last = path.at(-1)!;
    if (m.op === 'set') parent[last] = m.value;
    else if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (m.op === 'wrap') parent[last] = [parent[last]];
    else if (parent[last] && typeof parent[last] === 'object' && !Array.isArray(parent[last])) (parent[last] as Record<string, unknown>)[m.key] = m.value;
  }
  return doc;
}

const validJob = { name: 'ok', labels: { a: 'b' }, tasks: [{ cmd: 'echo hi', env: { A: '1' } }], resources: { cpus: 1, walltime: 5 }, inputs: [{ filename: 'in.txt', content: 'aGk=' }], outputFiles: ['*.txt'], policies: { maximumRetries: 1 } };
const validWorkflow = {
  name: 'wf',
  jobs: [
    { name: 'a', tasks: [{ cmd: 'echo a' }] },
    { name: 'b', tasks: [{ cmd: 'echo $x' }], outputFiles: ['o.$x'] },
  ],
  dependencies: { a: ['b'] },
  factories: [{ type: 'parameterSweep', jobs: ['b'], parameters: [{ name: 'x', start: 1, end: 3, step: 1 }] }],
};

const factory = fc.oneof(
  fc.record({ type: fc.constant('parameterSweep'), jobs: fc.array(word, { maxLength: 2 }), parameters: fc.array(fc.record({ name: anyString, start: fc.oneof(fc.double(), weird), end: fc.double(), step: fc.oneof(fc.double(), weird) }), { maxLength: 2 }) }),
  fc.record({ type: fc.constant('zip'), jobs: fc.array(word, { maxLength: 2 }), parameters: fc.array(fc.record({ name: anyString, values: fc.array(fc.oneof(anyString, fc.double()), { maxLength: 3 }) }), { maxLength: 2 }) }),
  fc.record({ type: fc.constant('repeat'), jobs: fc.array(word, { maxLength: 2 }), number: fc.oneof(fc.integer({ min: -1, max: 20 }), weird) }),
  fc.record({ type: anyString, jobs: weird }),
);
const workflowDef = fc.record(
  {
    name: anyString,
    labels: fc.dictionary(anyString, anyString, { maxKeys: 2 }),
    jobs: fc.array(jobDef, { maxLength: 3 }),
    dependencies: fc.dictionary(word, fc.array(word, { maxLength: 2 }), { maxKeys: 2 }),
    factories: fc.array(factory, { maxLength: 2 }),
    policies: fc.record({ maximumRetries: weird, maximumParallel: weird }, { requiredKeys: [] }),
  },
  { requiredKeys: ['jobs'] },
);

// ---------------------------------------------------------------- the property

async function post(path: string, body: string, contentType = 'application/json'): Promise<void> {
  const r = await call(d, 'POST', path, { raw: body, headers: { 'content-type': contentType } });
  tally.requests++;
  const summary = { path, status: r.status, error: r.json?.error, body: body.length > 300 ? `${body.slice(0, 300)}...` : body };
  const bytes = Buffer.byteLength(body);
  if (bytes > MAX_JSON) {
    expect({ bytes, status: r.status, code: r.json?.error?.code }).toEqual({ bytes, status: 413, code: 'TOO_LARGE' });
    tally.tooLarge++;
    return;
  }
  if (r.status === 200 || r.status === 201) {
    tally.ok++;
    return;
  }
  // Anything else must be a 400 that names the field at fault.
  expect(summary).toMatchObject({ status: 400, error: { field: expect.stringMatching(/\S/), message: expect.stringMatching(/\S/) } });
  expect(summary.error.field).not.toBe('(definition)');
  tally.refused++;
}

describe('fuzzing the API', () => {
  it('random job definitions: never a 5xx, every refusal names a field', async () => {
    const before = tally.requests;
    await fc.assert(fc.asyncProperty(jobDef, async (job) => post('/jobs', JSON.stringify(job))), { seed: SEED, numRuns: RUNS });
    expect(tally.requests - before).toBe(RUNS);
  }, 120_000);

  it('mutations of a valid job definition (set, delete, wrap, unknown keys at any depth)', async () => {
    const before = tally.requests;
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (m) => post('/jobs', JSON.stringify(mutate(validJob, m)))), { seed: SEED + 1, numRuns: RUNS });
    expect(tally.requests - before).toBe(RUNS);
  }, 120_000);

  it('random and mutated workflow definitions', async () => {
    const before = tally.requests;
    await fc.assert(fc.asyncProperty(workflowDef, async (wf) => post('/workflows', JSON.stringify(wf))), { seed: SEED + 2, numRuns: Math.ceil(RUNS / 2) });
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (m) => post('/workflows', JSON.stringify(mutate(validWorkflow, m)))), { seed: SEED + 3, numRuns: Math.ceil(RUNS / 2) });
    expect(tally.requests - before).toBe(2 * Math.ceil(RUNS / 2));
  }, 120_000);

  it('malformed JSON, truncated and byte-mangled bodies, other content types', async () => {
    const before = tally.requests;
    const good = JSON.stringify(validJob);
    await fc.assert(
      fc.asyncProperty(fc.nat(good.length), fc.nat(good.length), fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', ''), async (cut, at, junk, ct) => {
        await post('/jobs', good.slice(0, cut), ct);
        await post('/jobs', good.slice(0, at) + junk + good.slice(at), ct);
      }),
      { seed: SEED + 4, numRuns: Math.ceil(RUNS / 3) },
    );
    for (const body of ['', ' ', 'null', '[]', '"x"', '42', 'true', '{', '{"tasks":', '\u0000', '{"tasks":[{"cmd":"x"}]}garbage', '[[[[[[[[[[', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, `{"a":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_001)}`]) {
      await post('/jobs', body);
      await post('/workflows', body);
    }
    // Over the body limit, declared and chunked.
    const tooLargeBefore = tally.tooLarge;
    await post('/jobs', JSON.stringify({ tasks: [{ cmd: 'x'.repeat(300 * 1024) }] }));
    expect(tally.tooLarge).toBe(tooLargeBefore + 1);
    // Two requests per run, two per fixed body, and the one over the limit.
    expect(tally.requests - before).toBe(2 * Math.ceil(RUNS / 3) + 2 * 14 + 1);
    expect((await call(d, 'GET', '/healthz', { token: null })).status).toBe(200);
  }, 120_000);
});
