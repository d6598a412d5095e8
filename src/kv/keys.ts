/**
 * What a key may be. Keys travel in URL paths, in the file names of the relay and through the
 * in-job helper, so they are kept to characters none of those transform: letters, digits and
 * `_ - . : @ + = ,`, in segments joined by `/`. Empty, `.` and `..` segments are refused because
 * URL parsers (and curl) collapse them, which would make two spellings name one key.
 */
export const KEY_SEGMENT = /^[A-Za-z0-9_.:@+=,-]+$/;

/** Why `key` is not a key (a sentence naming the limit), or undefined when it is one. */
export function keyProblem(key: string, maxKeyBytes: number): string | undefined {
  if (key.length === 0) return 'must not be empty';
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > maxKeyBytes) return `is ${bytes} bytes, longer than the limit of ${maxKeyBytes} (daemon.kv.maxKeyBytes)`;
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return 'must be segments joined by single "/" with no empty, "." or ".." segment (and no leading or trailing "/")';
    if (!KEY_SEGMENT.test(seg)) return 'may contain only letters, digits, _ - . : @ + = , and /';
  }
  return undefined;
}

/** Why `prefix` cannot start any key, or undefined. An empty prefix is every key. */
export function prefixProblem(prefix: string, maxKeyBytes: number): string | undefined {
  if (prefix === '') return undefined;
  if (Buffer.byteLength(prefix, 'utf8') > maxKeyBytes) return `is longer than the longest key (${maxKeyBytes} bytes, daemon.kv.maxKeyBytes)`;
  if (!/^[A-Za-z0-9_.:@+=,/-]+$/.test(prefix)) return 'may contain only letters, digits, _ - . : @ + = , and /';
  return undefined;
}
