/**
 * The one error type of the SDK. Every failure is thrown as an `HpcBridgeError` carrying the
 * daemon's code, message and field; the client's own codes are UNREACHABLE (no answer, or the
 * connection broke), BAD_RESPONSE (an answer that is not the API's) and CHECKSUM_MISMATCH.
 */
export class HpcBridgeError extends Error {
  override readonly name = 'HpcBridgeError';
  constructor(
    /** The daemon's error code (NOT_FOUND, INVALID_DEFINITION, ...), or UNREACHABLE / BAD_RESPONSE from the client itself. */
    readonly code: string,
    message: string,
    /** HTTP status, 0 when the daemon could not be reached. */
    readonly status: number,
    readonly field?: string,
    readonly problems?: { field: string; message: string }[],
    /** How many attempts were made before this error reached the caller (1 when it was not retried). */
    readonly attempts = 1,
  ) {
    super(message);
  }
}
