/**
 * The SSH command framing, exercised with real local shells standing in for sshd's
 * `$SHELL -c <command>`: BASH_ENV and a temporary HOME with chatty rc files play the part of a
 * login node's noisy environment.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeError } from '../../../src/domain/errors.js';
import { buildRemoteCommand, checkExecArgs, cwdFailure, FramedStream, newMarker, type FrameOptions } from '../../../src/transport/ssh/framing.js';

let home: string;
const NOISE = "printf 'RC-OUT-no-newline'; printf 'RC-ERR\\n' >&2; echo rc line two; trap 'echo EXIT-TRAP' EXIT\n";

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'hpcb-framing-'));
  await writeFile(join(home, 'rc'), NOISE);
  await writeFile(join(home, '.bash_profile'), `printf 'PROFILE-OUT'; printf 'PROFILE-ERR' >&2\n${NOISE}`);
  await writeFile(join(home, '.bash_logout'), 'echo LOGOUT\n');
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

interface Run {
  stdout: string;
  stderr: string;
  rawStdout: string;
  code: number | null;
  signal: string | null;
  pid: number | null;
  cwdError: string | null;
  started: boolean;
}

/** Run the framed command the way sshd would: `<shell> -c <command>`. */
function runFramed(shell: string, argv: string[], opts: FrameOptions = {}): Promise<Run> {
  const marker = newMarker();
  const command = buildRemoteCommand(argv, opts, marker);
  return new Promise((resolve, reject) => {
    const child = spawn(shell, ['-c', command], {
      env: { PATH: process.env.PATH, HOME: home, BASH_ENV: join(home, 'rc') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = new FramedStream(marker, true);
    const err = new FramedStream(marker, false);
    const raw: Buffer[] = [];
    // Feed byte by byte in places: markers must be found across chunk boundaries.
    child.stdout.on('data', (b: Buffer) => {
      raw.push(b);
      for (let i = 0; i < b.length; i += 3) out.push(b.subarray(i, i + 3));
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stderr = err.output();
      resolve({
        stdout: out.output().toString(),
        stderr: stderr.toString(),
        rawStdout: Buffer.concat(raw).toString(),
        code,
        signal,
        pid: out.pid,
        cwdError: cwdFailure(stderr, marker),
        started: out.started,
      });
    });
  });
}

describe('SSH output framing', () => {
  it('strips rc-file noise on both streams (bash with BASH_ENV) and keeps the output exact', async () => {
    const r = await runFramed('bash', ['sh', '-c', 'printf "exact"; printf "err" >&2; exit 3']);
    expect(r.rawStdout).toContain('RC-OUT-no-newline');
    expect(r).toMatchObject({ stdout: 'exact', stderr: 'err', code: 3, started: true });
  });

  it('strips a login shell profile too, and nothing (EXIT traps, .bash_logout) follows the output', async () => {
    const r = await runFramed('sh', ['printf', '%s', 'login'], { loginShell: true });
    expect(r.rawStdout).toContain('PROFILE-OUT');
    expect(r).toMatchObject({ stdout: 'login', stderr: '', code: 0 });
  });

  it('reports the PID of the command itself (exec keeps it), which a timeout kills', async () => {
    const r = await runFramed('bash', ['sh', '-c', 'echo $$']);
    expect(r.pid).toBe(Number(r.stdout.trim()));
  });

  it('keeps a death by signal a signal, not a shell exit status 128+n', async () => {
    for (const loginShell of [false, true]) {
      const r = await runFramed('bash', ['sh', '-c', 'kill -TERM $$'], { loginShell });
      expect(r).toMatchObject({ code: null, signal: 'SIGTERM' });
    }
  });

  it('applies cwd and env, quoting values literally', async () => {
    const value = `it's "$HOME" $(id) \`id\`\nline2`;
    const r = await runFramed('sh', ['sh', '-c', 'pwd; printf %s "$V"'], { cwd: home, env: { V: value } });
    expect(r.stdout).toBe(`${home}\n${value}`);
    expect(r.cwdError).toBeNull();
  });

  it('marks a missing cwd so it cannot pass for the command failing', async () => {
    const r = await runFramed('sh', ['true'], { cwd: join(home, 'missing dir') });
    expect(r.code).toBe(1);
    expect(r.cwdError).toContain('missing dir');
  });

  it('a shell that dies before the preamble leaves no marker (the transport refuses the result)', async () => {
    const marker = newMarker();
    const s = new FramedStream(marker, true);
    s.push(Buffer.from('This account is currently not available.\n'));
    expect(s.started).toBe(false);
    expect(s.output().toString()).toContain('not available');
  });

  it('finds the marker when it is split across chunks, and ignores look-alikes', () => {
    const marker = newMarker();
    const s = new FramedStream(marker, true);
    const text = `junk ${marker.slice(0, 10)} more junk${marker}:4242\nresult`;
    for (const ch of text) s.push(Buffer.from(ch));
    expect(s.pid).toBe(4242);
    expect(s.output().toString()).toBe('result');
    const e = new FramedStream(marker, false);
    e.push(Buffer.from(`noise${marker}`));
    e.push(Buffer.from('\nstderr'));
    expect(e.output().toString()).toBe('stderr');
  });

  it('validates argv and env names', () => {
    expect(() => checkExecArgs([], undefined)).toThrow(BridgeError);
    expect(() => checkExecArgs([''], undefined)).toThrow(BridgeError);
    expect(() => checkExecArgs(['true'], { '1X': 'a' })).toThrow(/invalid environment variable name/);
    expect(() => checkExecArgs(['true'], { OK_1: 'a' })).not.toThrow();
  });
});
