/**
 * The hostile-input suite (test/e2e/suites/hostile.suite.ts) on the real Slurm over SSH.
 */
import { defineHostileSuite } from './suites/hostile.suite.js';

defineHostileSuite('on Slurm over SSH', {});
