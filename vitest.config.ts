import { defineConfig } from 'vitest/config';

/**
 * Two projects:
 *  - unit: pure code, parsers on captured output, the local transport. `npm run test:unit`.
 *  - cluster: everything that needs the real test cluster (Slurm + Torque wrappers behind an
 *    sshd in its own network namespace). Its global setup starts the cluster if it is not up;
 *    under CI=true a cluster that cannot start fails the run. Files run one at a time because
 *    some of them break the cluster on purpose (sshd restarts, link cuts).
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/api/**/*.test.ts', 'test/adapters/**/*.test.ts', 'test/contract/**/*.local.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'cluster',
          include: [
            'test/e2e/**/*.test.ts',
            'test/contract/**/*.ssh.test.ts',
            'test/cluster/**/*.test.ts',
            'test/reliability/**/*.test.ts',
          ],
          globalSetup: ['test/cluster/globalSetup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
