/**
 * Structured logs: pino JSON lines on stdout (journald collects them). Child loggers carry
 * their bindings ({cluster}, {cluster, jobId, nativeId}, {reqId}). Secrets never reach a log
 * line: the redaction list covers tokens, passphrases and authorization headers wherever they
 * appear in logged objects, and key material is only ever referenced by path.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  '*.token',
  'passphrase',
  '*.passphrase',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  '*.privateKey',
  'privateKey',
  // Webhook signing secrets (a job definition's notifications[].secret), should one ever be logged.
  'secret',
  '*.secret',
  '*.notifications[*].secret',
];

/**
 * `HPCB_LOG_TEE=<file>`: every line any logger writes is also appended to that file (after
 * redaction, exactly as written to the main destination). The test runner sets it so one scan
 * after the whole suite can look for secrets in every log line the suite produced
 * (test/security/secretScan.ts); operators can use it to keep a copy beside journald.
 */
export const LOG_TEE_ENV = 'HPCB_LOG_TEE';

let teeFile: string | undefined;
let teeStream: pino.DestinationStream | undefined;
function tee(): pino.DestinationStream | undefined {
  const file = process.env[LOG_TEE_ENV];
  if (!file) return undefined;
  if (file !== teeFile) {
    // One shared, synchronous append stream per file: lines from every logger stay whole and
    // nothing is lost when a test process exits right after logging.
    teeStream = pino.destination({ dest: file, append: true, sync: true, mkdir: true });
    teeFile = file;
  }
  return teeStream;
}

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env.HPCB_LOG_LEVEL ?? 'info';
  const options: LoggerOptions = {
    level,
    base: { service: 'hpc-bridge' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const copy = tee();
  if (!copy) return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options);
  // The copy takes info and above whatever the logger's own level, so a scan of the copy also
  // covers daemons configured `warn` or `silent` (most tests are): the main destination still
  // gets only what its level lets through.
  const teeLevel = (process.env.HPCB_LOG_TEE_LEVEL ?? 'info') as pino.Level;
  const main = (opts.destination as pino.DestinationStream | undefined) ?? pino.destination(1);
  const streams: pino.StreamEntry[] = [{ level: teeLevel, stream: copy }];
  if (level !== 'silent') streams.push({ level: level as pino.Level, stream: main });
  const lowest = level === 'silent' || pino.levels.values[teeLevel]! < pino.levels.values[level]! ? teeLevel : level;
  return pino({ ...options, level: lowest }, pino.multistream(streams));
}

/** A logger that drops everything (library use and tests that do not care); see HPCB_LOG_TEE. */
export function silentLogger(): Logger {
  return tee() ? createLogger({ level: 'silent' }) : pino({ level: 'silent' });
}

/**
 * Anything shaped like an API token (`hpcb_<id>_<secret>`) or a job's key-value credential
 * (`hpcbj_<id>_<secret>`) in free text (a request path a client got wrong, an error message)
 * keeps its public id and loses its secret.
 */
export function redactTokenLike(text: string): string {
  return text.replace(/\b(hpcbj?_[0-9a-f]{8}_)[A-Za-z0-9_-]{16,}/g, '$1[redacted]');
}
