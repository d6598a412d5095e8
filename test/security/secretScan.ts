/**
 * Find secrets in log text: whole API tokens (every token the suite creates has the
 * `hpcb_<8 hex>_<43 base64url>` shape, job credentials `hpcbj_...`, so the pattern finds them
 * without a list), bearer
 * credentials, and any literal secret given (SSH key passphrases of the test cluster).
 *
 * Used by test/security/secrets.test.ts on the logs of its own daemons, and meant for one scan
 * of the whole suite's log: with HPCB_LOG_TEE=<file> every logger appends there
 * (src/logging.ts), and `npx tsx test/security/secretScan.ts <file>` exits 1 on any finding.
 */
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface Finding {
  file: string;
  line: number;
  kind: 'api-token' | 'bearer' | 'secret';
  /** The line with the secret itself masked, so the report does not leak it again. */
  excerpt: string;
}

const TOKEN = /hpcbj?_[0-9a-f]{8}_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g;
const BEARER = /\bBearer\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{8,}/gi;

function mask(line: string, secrets: readonly string[]): string {
  let out = line.replace(TOKEN, (t) => `${t.slice(0, 14)}***`).replace(BEARER, 'Bearer ***');
  for (const s of secrets) out = out.split(s).join('***');
  return out.length > 300 ? `${out.slice(0, 300)}...` : out;
}

/** Every line of `text` that holds a token, a bearer credential or one of `secrets`. */
export function scanText(text: string, secrets: readonly string[] = [], file = '(text)'): Finding[] {
  const real = secrets.filter((s) => s.length >= 4); // a 1-3 character "secret" would match everywhere
  const out: Finding[] = [];
  text.split('\n').forEach((line, i) => {
    const kinds: Finding['kind'][] = [];
    if (line.match(TOKEN)) kinds.push('api-token');
    if (line.match(BEARER)) kinds.push('bearer');
    if (real.some((s) => line.includes(s))) kinds.push('secret');
    for (const kind of kinds) out.push({ file, line: i + 1, kind, excerpt: mask(line, real) });
  });
  return out;
}

export function scanFiles(files: readonly string[], secrets: readonly string[] = []): Finding[] {
  return files.filter((f) => existsSync(f)).flatMap((f) => scanText(readFileSync(f, 'utf8'), secrets, f));
}

/** The test cluster's key passphrase, when the cluster has been set up on this machine. */
export async function knownTestSecrets(): Promise<string[]> {
  const out: string[] = [];
  try {
    const { loadClusterEnv } = await import('../cluster/env.js');
    const env = loadClusterEnv();
    if (env.passphrase) out.push(env.passphrase);
  } catch {
    // no cluster on this machine: only the token pattern applies
  }
  for (const s of (process.env.HPCB_SECRET_SCAN_EXTRA ?? '').split(',')) if (s) out.push(s);
  return out;
}

// `npx tsx test/security/secretScan.ts <log file>...`: the whole-suite scan.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const files = process.argv.slice(2);
  const findings = scanFiles(files, await knownTestSecrets());
  for (const f of findings) console.error(`${f.file}:${f.line}: ${f.kind}: ${f.excerpt}`);
  const lines = files.filter((f) => existsSync(f)).reduce((n, f) => n + readFileSync(f, 'utf8').split('\n').length - 1, 0);
  console.log(`secret scan: ${lines} log lines in ${files.length} file(s), ${findings.length} finding(s)`);
  process.exit(findings.length ? 1 : 0);
}
