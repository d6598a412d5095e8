/**
 * The client's hand-written JobDefinition must accept exactly what the daemon's schema accepts
 * (as input types): checked by the compiler in both directions.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { JobDefinition } from '../../src/client/types.js';
import type { JobSpecInput } from '../../src/domain/jobSpec.js';
import { JobSpecSchema } from '../../src/domain/jobSpec.js';

describe('client types', () => {
  it('JobDefinition and JobSpecInput are mutually assignable', () => {
    expectTypeOf<JobDefinition>().toExtend<JobSpecInput>();
    expectTypeOf<JobSpecInput>().toExtend<JobDefinition>();
    // And every top-level field of the schema is in the client type (no silent drop).
    const keys = Object.keys(JobSpecSchema.shape).sort();
    const sample: Required<JobDefinition> = {
      name: '', labels: {}, tasks: [], resources: {}, inputs: [], artifacts: [], outputFiles: [], outputDirs: [], policies: {}, notifications: [],
      cluster: '', queue: '', account: '', qos: '', reservation: '', constraint: '',
    };
    expect(Object.keys(sample).sort()).toEqual(keys);
  });
});
