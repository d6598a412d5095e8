import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/domain/errors.js';
import { parseJobSpec } from '../../src/domain/jobSpec.js';

function problems(input: unknown): { field: string; message: string }[] {
  try {
    parseJobSpec(input);
  } catch (e) {
    expect(e).toBeInstanceOf(BridgeError);
    return (e as BridgeError).context.problems as { field: string; message: string }[];
  }
  throw new Error('expected a validation error');
}

describe('job definition validation', () => {
  it('applies defaults to a minimal job', () => {
    const s = parseJobSpec({ tasks: [{ cmd: 'echo hi' }] });
    expect(s.resources).toEqual({ nodes: 1, cpus: 1 });
    expect(s.tasks[0]!.type).toBe('basic');
    expect(s.policies.maximumRetries).toBe(0);
  });

  it('rejects unknown fields at every level, naming them', () => {
    const p = problems({ tasks: [{ cmd: 'x', bogus: 1 }], resources: { cpu: 2 }, extra: true, policies: { ignoreTaskTailures: true } });
    const fields = p.map((x) => x.field).sort();
    expect(fields).toEqual(['extra', 'policies.ignoreTaskTailures', 'resources.cpu', 'tasks[0].bogus']);
    expect(p.every((x) => x.message === 'unknown field')).toBe(true);
  });

  it('names the field and says why for impossible values', () => {
    expect(problems({ tasks: [] })).toEqual([{ field: 'tasks', message: expect.stringContaining('at least one task') }]);
    expect(problems({ tasks: [{ cmd: 'x' }], resources: { cpus: 0 } })[0]).toEqual({ field: 'resources.cpus', message: 'must be at least 1' });
    expect(problems({ tasks: [{ cmd: 'x' }], resources: { walltime: 1.5 } })[0]!.field).toBe('resources.walltime');
    expect(problems({ tasks: [{ cmd: 'x' }], resources: { memory: 1, memoryPerCpu: 1 } })[0]!.field).toBe('resources.memoryPerCpu');
    expect(problems({ tasks: [{ cmd: 'x', type: 'sidecar' }] })[0]!.field).toBe('tasks');
    expect(problems({ tasks: [{ cmd: 'x', type: 'openmpi', procsPerNode: 4 }], resources: { cpus: 2 } })[0]!.field).toBe('tasks[0].procsPerNode');
    expect(problems({ tasks: [{ cmd: 'mpirun -np 2 ./a', type: 'openmpi' }] })[0]!.field).toBe('tasks[0].cmd');
    expect(problems({ tasks: [{ cmd: 'x' }], resources: { nodes: 2 } })[0]!.field).toBe('resources.nodes');
    expect(problems({ tasks: [{ cmd: 'x', runtime: 'apptainer' }] })[0]!.field).toBe('tasks[0].runtime');
    expect(problems({ tasks: [{ cmd: 'x', image: 'mpi:1', runtime: 'podman', type: 'openmpi' }] })[0]).toEqual({
      field: 'tasks[0].runtime',
      message: 'podman cannot run an MPI task (type "openmpi"): use apptainer or singularity, or type "basic"',
    });
    expect(problems({ tasks: [{ cmd: 'x', image: '--privileged', runtime: 'podman' }] })[0]!.field).toBe('tasks[0].image');
    expect(problems({ tasks: [{ cmd: 'x', image: 'a b', runtime: 'podman' }] })[0]!.field).toBe('tasks[0].image');
    expect(() => parseJobSpec({ tasks: [{ cmd: 'x', image: 'registry.example:5000/team/tool:1.2@sha256:abc', runtime: 'podman' }] })).not.toThrow();
    expect(problems({ tasks: [{ cmd: 'x' }] , queue: 'a;rm -rf /' })[0]!.field).toBe('queue');
  });

  it('confines file names to the job directory', () => {
    for (const bad of ['../x', '/etc/passwd', 'a/../../b', 'a\nb', 'a\0b', '.hpcb/exit', '']) {
      const p = problems({ tasks: [{ cmd: 'x' }], inputs: [{ filename: bad, content: '' }] });
      expect(p[0]!.field).toBe('inputs[0].filename');
    }
    expect(problems({ tasks: [{ cmd: 'x' }], outputFiles: ['../../etc/*'] })[0]!.field).toBe('outputFiles[0]');
    expect(problems({ tasks: [{ cmd: 'x', workdir: '/tmp' }] })[0]!.field).toBe('tasks[0].workdir');
    expect(problems({ tasks: [{ cmd: 'x', env: { 'A B': 'x' } }] })[0]!.field).toMatch(/^tasks\[0\]\.env/);
  });
});
