import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One member of a tar archive as `tar -tzv` lists it. */
export interface TarMember {
  /** The type letter of the mode: `-` file, `d` directory, `l` symlink, `h` hard link... */
  type: string;
  mode: string;
  size: number;
  name: string;
  /** Where a symlink (or hard link) points, as stored in the archive. */
  target?: string;
}

/** The members of a .tar.gz, with their modes, read by the system's tar (never by project code). */
export function listTarGz(archive: Buffer): TarMember[] {
  const out = execFileSync('tar', ['-tzv', '--numeric-owner', '-f', '-'], { input: archive }).toString();
  const members: TarMember[] = [];
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    // mode owner/group size date time name[ -> target | link to target]
    const m = /^(\S)(\S{9})\s+\S+\s+(\d+)\s+\S+\s+\S+\s(.*)$/.exec(line);
    if (!m) throw new Error(`unexpected tar listing line: ${line}`);
    const [, type, perms, size, rest] = m as unknown as [string, string, string, string, string];
    const arrow = type === 'l' ? rest.indexOf(' -> ') : type === 'h' ? rest.indexOf(' link to ') : -1;
    const name = arrow < 0 ? rest : rest.slice(0, arrow);
    const target = arrow < 0 ? undefined : rest.slice(arrow + (type === 'l' ? 4 : 9));
    members.push({ type, mode: `${type}${perms}`, size: Number(size), name, ...(target !== undefined ? { target } : {}) });
  }
  return members;
}

/** The contents of every regular file in a .tar.gz, by member name (extracted by the system's tar). */
export function regularFilesOfTarGz(archive: Buffer): Map<string, Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'hpcb-untar-'));
  try {
    execFileSync('tar', ['-xz', '--no-same-owner', '-f', '-', '-C', dir], { input: archive });
    const files = new Map<string, Buffer>();
    const walk = (rel: string) => {
      for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) files.set(p, readFileSync(join(dir, p)));
      }
    };
    walk('');
    return files;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
