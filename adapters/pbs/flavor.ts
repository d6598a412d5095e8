/**
 * Which PBS answers on a login node: PBS Pro/OpenPBS or Torque (a real Torque server, or the
 * slurm-wlm-torque wrappers that pose as one). A command and a pure parser, so `config check`
 * (and a daemon at connect time) can compare the configured `flavor` with what is really there.
 *
 * `qstat --version` tells them apart, each in its own words:
 *   OpenPBS / PBS Pro  `pbs_version = 23.06.06`, exit 0 (test/fixtures/openpbs-23.06/flavor-*)
 *   Torque             `Version: 6.1.3` (and a Commit: line), exit 0
 *   the wrappers       Perl Getopt refuses it: `Unknown option: version`, exit 2, then the
 *                      wrappers' own usage text (test/fixtures/slurm-22.05/12w-qstat-version.txt)
 * Anything else is 'unknown': a probe never guesses a flavor.
 */
import type { ExecResult } from '../../src/domain/adapter.js';
import { pbsCommand } from './index.js';
import type { PbsFlavor } from './states.js';

export interface DetectedFlavor {
  /** What the configured `flavor` should be, or 'unknown' when the answer names neither. */
  flavor: PbsFlavor | 'unknown';
  /** Human name of what answered, for messages. */
  implementation: string;
  version?: string;
  /** The line the decision rests on. */
  evidence: string;
}

/** `qstat --version`, under `commandDir` when the adapter is configured with one. */
export function flavorProbeCommand(commandDir?: string): string[] {
  return [pbsCommand(commandDir?.replace(/\/+$/, ''))('qstat'), '--version'];
}

export function parseFlavorProbe(r: ExecResult): DetectedFlavor {
  const text = `${r.stdout}\n${r.stderr}`;
  const first = text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  let m = /^pbs_version\s*=\s*(\S+)/m.exec(text);
  if (m) return { flavor: 'pbspro', implementation: 'PBS Pro/OpenPBS', version: m[1]!, evidence: m[0] };
  m = /^\s*Version:\s*(\S+)/m.exec(text);
  if (m && r.exitCode === 0) return { flavor: 'torque', implementation: 'Torque', version: m[1]!, evidence: m[0].trim() };
  if (/Unknown option: version/.test(text) && /^\s*qstat \[-f\]/m.test(text)) {
    return { flavor: 'torque', implementation: "Slurm's Torque wrappers (slurm-wlm-torque)", evidence: 'Unknown option: version' };
  }
  if (r.exitCode === 127 || /command not found|No such file/i.test(text)) {
    return { flavor: 'unknown', implementation: 'no qstat', evidence: first };
  }
  return { flavor: 'unknown', implementation: 'an unrecognised qstat', evidence: first };
}

export interface FlavorVerdict {
  verdict: 'match' | 'mismatch' | 'unknown';
  /** One sentence naming the configured flavor and, on a mismatch, the detected one and what to set. */
  detail: string;
}

/**
 * The configured flavor against what answered: the one message `config check` prints and the
 * daemon logs and shows as the cluster's error when they disagree.
 */
export function judgeFlavor(configured: PbsFlavor, seen: DetectedFlavor, commandDir?: string): FlavorVerdict {
  const what = `${seen.implementation}${seen.version ? ` ${seen.version}` : ''} ("${seen.evidence}")`;
  if (seen.flavor === configured) return { verdict: 'match', detail: `flavor ${configured} matches the qstat found: ${what}` };
  if (seen.flavor === 'unknown') return { verdict: 'unknown', detail: `flavor ${configured} is configured, but qstat --version names no PBS flavor: ${what}` };
  const hint = configured === 'pbspro' && !commandDir ? ', or adapter.commandDir to where the PBS Pro commands are' : '';
  return {
    verdict: 'mismatch',
    detail: `flavor ${configured} is configured, but the qstat found is ${what}, which is flavor ${seen.flavor}: set flavor: ${seen.flavor}${hint}`,
  };
}
