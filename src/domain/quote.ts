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
  const quoted = `'${arg.replace(/'/g, `'\\''`)}'`;
  // A raw carriage return makes sbatch refuse the whole batch script ("Batch script contains
  // DOS line breaks"), so an environment value or a command with one would fail at submit.
  // Each CR is written as bash's $'\r' between the single-quoted pieces instead (the batch
  // script and the remote programs run under bash); strings without CR are unchanged.
  return arg.includes('\r') ? quoted.replace(/\r/g, () => "'$'\\r''") : quoted;
}

/** Quote each element of an argv and join with spaces. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** Environment variable names that a POSIX shell can export. */
export function isValidEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}
