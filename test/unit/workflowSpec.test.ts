import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/domain/errors.js';
import { parseWorkflow, substitute, sweepValues } from '../../src/domain/workflowSpec.js';

const job = (name: string, cmd = 'true', extra: Record<string, unknown> = {}) => ({ name, tasks: [{ cmd }], ...extra });

function problem(input: unknown): { field: string; message: string } {
  try {
    parseWorkflow(input);
  } catch (e) {
    expect(e).toBeInstanceOf(BridgeError);
    const err = e as BridgeError;
    expect(err.code).toBe('INVALID_DEFINITION');
    return (err.context.problems as { field: string; message: string }[])[0]!;
  }
  throw new Error('expected INVALID_DEFINITION');
}

describe('workflow definitions', () => {
  it('orders jobs parents first and links dependencies by exact name, never by substring', () => {
    const plan = parseWorkflow({ jobs: [job('ab'), job('a'), job('b')], dependencies: { a: ['b'] } });
    expect(plan.order.indexOf('a')).toBeLessThan(plan.order.indexOf('b'));
    expect(plan.parents.get('b')).toEqual(['a']);
    expect(plan.parents.get('ab')).toEqual([]);
    expect(plan.children.get('ab')).toEqual([]);
  });

  it('rejects an unknown job name and names it', () => {
    expect(problem({ jobs: [job('a')], dependencies: { a: ['ab'] } })).toEqual({ field: 'dependencies.a[0]', message: 'no job named "ab" in this workflow' });
    expect(problem({ jobs: [job('a')], dependencies: { x: ['a'] } }).field).toBe('dependencies.x');
    expect(problem({ jobs: [job('a')], factories: [{ type: 'repeat', jobs: ['b'], number: 2 }] }).field).toBe('factories[0].jobs[0]');
  });

  it('rejects cycles, spelling the cycle out', () => {
    const p = problem({ jobs: [job('a'), job('b'), job('c')], dependencies: { a: ['b'], b: ['c'], c: ['a'] } });
    expect(p.message).toMatch(/^dependency cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)$/);
    expect(problem({ jobs: [job('a')], dependencies: { a: ['a'] } }).message).toBe('dependency cycle: a -> a');
  });

  it('requires unique, present job names and valid job definitions', () => {
    expect(problem({ jobs: [job('a'), job('a')] })).toEqual({ field: 'jobs[1].name', message: 'duplicate job name "a"' });
    expect(problem({ jobs: [{ tasks: [{ cmd: 'x' }] }] }).field).toBe('jobs[0].name');
    expect(problem({ jobs: [{ name: 'a', tasks: [{ cmd: 'x', bogus: 1 }] }] })).toEqual({ field: 'jobs[0].tasks[0].bogus', message: 'unknown field' });
  });

  it('takes "number" for repeat and rejects "num" with a hint', () => {
    const plan = parseWorkflow({ jobs: [job('r')], factories: [{ type: 'repeat', jobs: ['r'], number: 3 }] });
    expect(plan.instances.get('r')!.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(plan.instances.get('r')![2]!.spec.tasks[0]!.env).toEqual({ HPCB_INSTANCE_INDEX: '2' });
    expect(problem({ jobs: [job('r')], factories: [{ type: 'repeat', jobs: ['r'], num: 3 }] })).toEqual({ field: 'factories[0].num', message: 'unknown field; the repeat factory takes "number"' });
  });

  it('takes up to 10,000 jobs in all: a factory of 10,000 alone, but not with one more job beside it', () => {
    const sweep = (end: number) => ({ type: 'parameterSweep', jobs: ['s'], parameters: [{ name: 'x', start: 1, end, step: 1 }] });
    expect(parseWorkflow({ jobs: [job('s')], factories: [sweep(10_000)] }).instances.get('s')!.length).toBe(10_000);
    expect(problem({ jobs: [job('s')], factories: [sweep(10_001)] })).toEqual({ field: 'factories', message: 'expands to more than 10000 jobs' });
    expect(problem({ jobs: [job('s'), job('t')], factories: [sweep(10_000)] })).toEqual({ field: 'factories', message: 'expands to more than 10000 jobs' });
  });

  it('formats sweep values without float drift', () => {
    expect(sweepValues(0, 1, 0.1)).toEqual(['0', '0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7', '0.8', '0.9', '1']);
    expect(sweepValues(1, 10, 3)).toEqual(['1', '4', '7', '10']);
    expect(sweepValues(0.05, 0.2, 0.05)).toEqual(['0.05', '0.1', '0.15', '0.2']);
    expect(sweepValues(-1, 1, 0.5)).toEqual(['-1', '-0.5', '0', '0.5', '1']);
    expect(sweepValues(2, 2, 1)).toEqual(['2']);
  });

  it('expands a 2-D sweep as a Cartesian product (first parameter slowest) and substitutes', () => {
    const plan = parseWorkflow({
      jobs: [job('s', 'echo $x ${y} $xy > out.$x.$y', { outputFiles: ['out.$x.${y}'], artifacts: [{ url: 'data-$x.tgz' }] })],
      factories: [{ type: 'parameterSweep', jobs: ['s'], parameters: [{ name: 'x', start: 1, end: 3, step: 1 }, { name: 'y', start: 0, end: 0.2, step: 0.1 }] }],
    });
    const insts = plan.instances.get('s')!;
    expect(insts).toHaveLength(9);
    expect(insts.map((i) => `${i.params.x},${i.params.y}`)).toEqual(['1,0', '1,0.1', '1,0.2', '2,0', '2,0.1', '2,0.2', '3,0', '3,0.1', '3,0.2']);
    const i4 = insts[4]!;
    expect(i4.spec.tasks[0]!.cmd).toBe('echo 2 0.1 $xy > out.2.0.1');
    expect(i4.spec.outputFiles).toEqual(['out.2.0.1']);
    expect(i4.spec.artifacts[0]!.url).toBe('data-2.tgz');
    expect(i4.spec.tasks[0]!.env).toEqual({ HPCB_INSTANCE_INDEX: '4', HPCB_PARAM_x: '2', x: '2', HPCB_PARAM_y: '0.1', y: '0.1' });
  });

  it('zips equal-length lists and rejects unequal ones', () => {
    const plan = parseWorkflow({
      jobs: [job('z', 'wc -c < $file')],
      factories: [{ type: 'zip', jobs: ['z'], parameters: [{ name: 'file', values: ['a.txt', 'b.txt'] }, { name: 'n', values: [1, 2] }] }],
    });
    expect(plan.instances.get('z')!.map((i) => i.params)).toEqual([{ file: 'a.txt', n: '1' }, { file: 'b.txt', n: '2' }]);
    const p = problem({ jobs: [job('z')], factories: [{ type: 'zip', jobs: ['z'], parameters: [{ name: 'a', values: [1, 2] }, { name: 'b', values: [1] }] }] });
    expect(p.field).toBe('factories[0].parameters[1].values');
  });

  it('re-validates each instance after substitution', () => {
    const p = problem({ jobs: [job('s', 'x', { outputFiles: ['$d/out'] })], factories: [{ type: 'zip', jobs: ['s'], parameters: [{ name: 'd', values: ['ok', '..'] }] }] });
    expect(p.field).toBe('jobs[0].outputFiles[0]');
    expect(p.message).toMatch(/instance 1/);
  });

  it('applies workflow policies and labels to every job', () => {
    const plan = parseWorkflow({ labels: { project: 'p' }, policies: { maximumRetries: 2 }, jobs: [job('a')] });
    const s = plan.instances.get('a')![0]!.spec;
    expect(s.policies.maximumRetries).toBe(2);
    expect(s.labels).toEqual({ project: 'p' });
  });

  it('substitutes only whole parameter names', () => {
    expect(substitute('$a ${a} $ab ${ab} $$a', { a: '1' })).toBe('1 1 $ab ${ab} $$a');
  });
});
