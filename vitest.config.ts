import { defineConfig } from 'vitest/config';

/**
 * Four projects:
 *  - unit: pure code, parsers on captured output, the local transport, the API on the direct
 *    adapter. `npm run test:unit`.
 *  - cluster: everything that needs the real test cluster (Slurm + Torque wrappers behind an
 *    sshd in its own network namespace) but leaves it whole. Its global setup starts the cluster
 *    if it is not up; a cluster that cannot start fails the run (never a skip). Files run one
 *    at a time: side by side, their jobs queue behind each other's on the one 8-CPU test node
 *    (walltime and cancel tests hold CPUs for minutes) and waits time out.
 *  - unit-coverage: the fixture coverage tests, after the unit project (groupOrder): they check
 *    that every captured scheduler output was read by a unit test in the same run (the unit
 *    project notes each read, test/helpers/fixtures-registry.ts). Run with the unit project:
 *    `--project unit --project unit-coverage` (what `npm run test:unit` does).
 *  - cluster-faults: tests that break the cluster on purpose (sshd stopped or restarted, the
 *    link cut, slurmctld stopped). They run one file at a time, after the other projects have
 *    finished (groupOrder), so no other test sees their faults.
 */
const COVERAGE_FILES = 'test/adapters/**/fixtures-coverage.test.ts';
const FAULT_FILES = ['test/contract/**/*.ssh.test.ts', 'test/e2e/slurm-crash.test.ts', 'test/reliability/**/*.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/adapters/**/*.test.ts', 'test/contract/**/*.local.test.ts', 'test/api/**/*.test.ts', 'test/security/**/*.test.ts', 'test/dashboard/**/*.test.ts'],
          exclude: [COVERAGE_FILES],
          globalSetup: ['test/helpers/fixtures-registry.ts'],
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'unit-coverage',
          include: [COVERAGE_FILES],
          globalSetup: ['test/helpers/fixtures-registry.ts'],
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/e2e/**/*.test.ts', 'test/cluster/**/*.test.ts'],
          exclude: FAULT_FILES,
          globalSetup: ['test/cluster/globalSetup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'cluster-faults',
          include: FAULT_FILES,
          globalSetup: ['test/cluster/globalSetup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
