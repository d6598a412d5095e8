import { describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../../src/domain/jobSpec.js';
import { gbToMb, memoryPerNodeMb, mpiRanks, processLayout } from '../../../adapters/common/resources.js';

describe('resource arithmetic', () => {
  it('converts GB to whole MB, rounding up', () => {
    expect(gbToMb(1)).toBe(1024);
    expect(gbToMb(0.5)).toBe(512);
    expect(gbToMb(1.001)).toBe(1026);
    expect(gbToMb(0.0001)).toBe(1);
  });

  it('derives memory per node from memory or memoryPerCpu', () => {
    expect(memoryPerNodeMb(parseJobSpec({ tasks: [{ cmd: 'x' }], resources: { memory: 2 } }))).toBe(2048);
    expect(memoryPerNodeMb(parseJobSpec({ tasks: [{ cmd: 'x' }], resources: { cpus: 4, memoryPerCpu: 0.5 } }))).toBe(2048);
    expect(memoryPerNodeMb(parseJobSpec({ tasks: [{ cmd: 'x' }] }))).toBeUndefined();
  });

  it('lays out serial jobs as one process with all CPUs and MPI jobs as ranks × threads', () => {
    expect(processLayout(parseJobSpec({ tasks: [{ cmd: 'x' }], resources: { cpus: 8 } }))).toEqual({ tasksPerNode: 1, cpusPerTask: 8 });
    const hybrid = parseJobSpec({ tasks: [{ cmd: 'x', type: 'openmpi', procsPerNode: 2 }], resources: { nodes: 3, cpus: 8 } });
    expect(processLayout(hybrid)).toEqual({ tasksPerNode: 2, cpusPerTask: 4 });
    expect(mpiRanks(hybrid.tasks[0]!, hybrid)).toBe(6);
    const pure = parseJobSpec({ tasks: [{ cmd: 'x', type: 'srun' }], resources: { nodes: 2, cpus: 4 } });
    expect(processLayout(pure)).toEqual({ tasksPerNode: 4, cpusPerTask: 1 });
    expect(mpiRanks(pure.tasks[0]!, pure)).toBe(8);
    // Not a multiple: the spare core is not requested rather than asking for more than `cpus`.
    const odd = parseJobSpec({ tasks: [{ cmd: 'x', type: 'mpich', procsPerNode: 3 }, { cmd: 'y' }], resources: { cpus: 7 } });
    expect(processLayout(odd)).toEqual({ tasksPerNode: 3, cpusPerTask: 2 });
  });
});
