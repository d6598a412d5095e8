/**
 * Exit codes a shell script can rely on. Stable: scripts test for them.
 */
import { HpcBridgeError } from '../client/client.js';

export const EXIT = {
  OK: 0,
  /** Anything else: an error from the daemon not listed below, or a local failure. */
  ERROR: 1,
  /** Bad command line. */
  USAGE: 2,
  /** `wait`/`run --wait`: the job ended but did not complete (failed, killed, deleted). */
  JOB_NOT_COMPLETED: 3,
  /** `wait --timeout`: still running when the time was up. */
  TIMEOUT: 4,
  /** Unknown job, artifact or output (or another user's). */
  NOT_FOUND: 5,
  /** No token, or a bad one. */
  UNAUTHORIZED: 6,
  /** The daemon could not be reached. */
  UNREACHABLE: 7,
  /** The daemon refused the request as invalid (the message names the field). */
  INVALID: 8,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0 success (for wait: the job completed)
  1 other error
  2 bad command line
  3 the job ended without completing (failed, killed or deleted)
  4 wait timed out with the job still active
  5 not found (unknown job, artifact or output)
  6 no or bad token
  7 daemon unreachable
  8 invalid request or job definition`;

export function exitCodeFor(e: unknown): number {
  if (!(e instanceof HpcBridgeError)) {
    const code = (e as { code?: unknown } | null)?.code;
    if (code === 'INVALID_CONFIG' || code === 'INVALID_DEFINITION') return EXIT.INVALID;
    return EXIT.ERROR;
  }
  switch (e.code) {
    case 'NOT_FOUND':
      return EXIT.NOT_FOUND;
    case 'UNAUTHORIZED':
      return EXIT.UNAUTHORIZED;
    case 'UNREACHABLE':
      return EXIT.UNREACHABLE;
    case 'INVALID_DEFINITION':
    case 'INVALID_REQUEST':
      return EXIT.INVALID;
    default:
      return EXIT.ERROR;
  }
}
