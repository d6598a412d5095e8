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
];

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.HPCB_LOG_LEVEL ?? 'info',
    base: { service: 'hpc-bridge' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options);
}

/** A logger that drops everything (library use and tests that do not care). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
