/**
 * The hostile-input suite (test/e2e/suites/hostile.suite.ts) on the real OpenPBS server through
 * the PBS Pro adapter: the same payloads in `#PBS` directives' neighbourhood, the runner of a PBS
 * batch script, and one `qsub -J` array for the zip values. Same assertions as on Slurm.
 */
import { defineHostileSuite } from './suites/hostile.suite.js';
import { OPENPBS } from './support/openpbs.js';

defineHostileSuite('on OpenPBS over SSH (pbs adapter, flavor pbspro)', OPENPBS);
