/**
 * The one audited place where strings become shell words. Every argument that reaches a
 * remote or local shell goes through `shellQuote`; no caller builds a command line by
 * concatenating user strings.
 *
 * POSIX single quotes keep every byte literal except the single quote itself, which is
 * written as '\'' (close, escaped quote, reopen). NUL cannot be passed in an argv at all,
 * so it is refused rather than silently truncated.
 */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new TypeError('shell argument contains a NUL byte');
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Quote each element of an argv and join with spaces. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** Environment variable names that a POSIX shell can export. */
export function isValidEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}
