/**
 * The Transport contract: every implementation (LocalTransport, SshTransport) runs this same
 * suite, so the engine can rely on one behaviour whichever way it reaches a cluster.
 *
 * Paths given to the transport are on "its side" (the scratch root); paths on the test's own
 * machine (upload sources, download targets) live under a local temporary directory. For
 * LocalTransport the two are the same filesystem, which the suite does not rely on.
 */
import { mkdtemp, readFile, rm, stat as localStat, writeFile as localWriteFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/domain/errors.js';
import type { Transport } from '../../src/transport/transport.js';
import { makeRandomFile, sha256, sha256File } from './files.js';

export interface TransportContractOptions {
  /** A directory on the transport's side; the suite works in a fresh subdirectory of it. */
  scratchRoot: string | (() => string | Promise<string>);
  /** Size of the large upload/download round trip. Default 1 GiB. */
  bigFileBytes?: number;
  /** Where the test keeps its local files. Default: the OS temp directory. */
  localTmp?: string;
}

const GiB = 1 << 30;

/** Await a rejection and return it as a BridgeError (fails the test if it is anything else). */
export async function rejection(p: Promise<unknown>): Promise<BridgeError> {
  const outcome = await p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.v)}`);
  expect(outcome.e).toBeInstanceOf(BridgeError);
  return outcome.e as BridgeError;
}

export function defineTransportContract(
  name: string,
  makeTransport: () => Transport | Promise<Transport>,
  opts: TransportContractOptions,
): void {
  describe(`Transport contract: ${name}`, () => {
    let t: Transport;
    let dir: string; // on the transport's side
    let local: string; // on the test's side

    beforeAll(async () => {
      t = await makeTransport();
      const root = typeof opts.scratchRoot === 'function' ? await opts.scratchRoot() : opts.scratchRoot;
      dir = `${root.replace(/\/+$/, '')}/contract-${randomBytes(5).toString('hex')}`;
      await t.mkdirp(dir);
      local = await mkdtemp(join(opts.localTmp ?? tmpdir(), 'hpcb-contract-'));
    });

    afterAll(async () => {
      if (t) {
        await t.remove(dir, { recursive: true }).catch(() => {});
        await t.close();
      }
      if (local) await rm(local, { recursive: true, force: true });
    });

    describe('exec', () => {
      it('reports exit status 0 and non-zero without throwing', async () => {
        const ok = await t.exec(['true']);
        expect(ok).toMatchObject({ exitCode: 0, signal: null, stdout: '', stderr: '' });
        expect(ok.durationMs).toBeGreaterThanOrEqual(0);
        const three = await t.exec(['sh', '-c', 'exit 3']);
        expect(three).toMatchObject({ exitCode: 3, signal: null });
      });

      it('reports a command ended by a signal as signal, exit status null', async () => {
        const r = await t.exec(['sh', '-c', 'kill -TERM $$']);
        expect(r).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
      });

      it('exits 127 for a program that does not exist', async () => {
        const r = await t.exec(['hpcb-no-such-program-xyz', 'arg']);
        expect(r.exitCode).toBe(127);
        expect(r.stderr).toContain('hpcb-no-such-program-xyz');
      });

      it('keeps stdout and stderr apart, byte for byte', async () => {
        const r = await t.exec(['sh', '-c', 'printf "out1\\n"; printf "err1" >&2; printf "out2"; printf "\\nerr2\\n" >&2']);
        expect(r.stdout).toBe('out1\nout2');
        expect(r.stderr).toBe('err1\nerr2\n');
      });

      it('drains large output on both streams at once (no flow-control stall)', async () => {
        const script = 'head -c 3000000 /dev/zero | tr "\\0" o & head -c 3000000 /dev/zero | tr "\\0" e >&2; wait';
        const r = await t.exec(['sh', '-c', script]);
        expect(r.exitCode).toBe(0);
        expect(r.stdout.length).toBe(3_000_000);
        expect(r.stderr.length).toBe(3_000_000);
        expect(/^o+$/.test(r.stdout) && /^e+$/.test(r.stderr)).toBe(true);
      });

      it('passes stdin, text and binary, then closes it', async () => {
        const text = await t.exec(['cat'], { stdin: 'line one\nline two\n' });
        expect(text.stdout).toBe('line one\nline two\n');
        const bytes = randomBytes(300_000);
        const bin = await t.exec(['sha256sum'], { stdin: bytes });
        expect(bin.stdout.split(' ')[0]).toBe(sha256(bytes));
      });

      it('gives a command that reads stdin an immediate end-of-file when no stdin is set', async () => {
        const r = await t.exec(['cat']);
        expect(r).toMatchObject({ exitCode: 0, stdout: '' });
      });

      it('runs in cwd, and refuses a missing cwd with REMOTE_IO rather than an exit status', async () => {
        await t.mkdirp(`${dir}/cwd test`);
        const r = await t.exec(['sh', '-c', 'pwd -P; ls'], { cwd: `${dir}/cwd test` });
        expect(r.exitCode).toBe(0);
        expect(r.stdout.split('\n')[0]).toMatch(/\/cwd test$/);
        const e = await rejection(t.exec(['pwd'], { cwd: `${dir}/no such dir` }));
        expect(e.code).toBe('REMOTE_IO');
        expect(e.message).toContain('no such dir');
      });

      it('sets env values literally and validates names', async () => {
        const tricky = `a b 'c' "d" $HOME \`id\` $(id) \\ \n end`;
        const r = await t.exec(['sh', '-c', 'printf "%s|%s" "$HPCB_ONE" "$HPCB_TWO"'], { env: { HPCB_ONE: tricky, HPCB_TWO: '' } });
        expect(r.stdout).toBe(`${tricky}|`);
        const e = await rejection(t.exec(['true'], { env: { 'BAD-NAME': 'x' } }));
        expect(e.code).toBe('INVALID_DEFINITION');
        const e2 = await rejection(t.exec(['true'], { env: { 'A=B': 'x' } }));
        expect(e2.code).toBe('INVALID_DEFINITION');
      });

      it('passes arguments literally: quotes, $(...), backticks, newlines, globs, empty strings (no injection)', async () => {
        const canary = `${dir}/canary`;
        const nasty = [
          `$(touch ${canary})`,
          `\`touch ${canary}\``,
          `; touch ${canary}`,
          `' ; touch ${canary} ; '`,
          `" ; touch ${canary} ; "`,
          `"$(touch ${canary})"`,
          `\ntouch ${canary}\n`,
          `&& touch ${canary}`,
          `| touch ${canary}`,
          `> ${canary}`,
          `$HOME \${HOME} ~ * ? [a-z] {a,b}`,
          `it's a "test"\\`,
          '  leading and trailing spaces  ',
          '-n',
          'tab\tseparated',
          'ünïcødé ✓',
          '',
        ];
        for (const arg of nasty) {
          const r = await t.exec(['printf', '%s', arg]);
          expect(r.exitCode).toBe(0);
          expect(r.stdout).toBe(arg);
        }
        const all = await t.exec(['sh', '-c', 'for a in "$@"; do printf "<%s>" "$a"; done', 'sh', ...nasty]);
        expect(all.stdout).toBe(nasty.map((a) => `<${a}>`).join(''));
        expect(await t.stat(canary)).toBeNull();
      });

      it('refuses an empty argv', async () => {
        const e = await rejection(t.exec([]));
        expect(e.code).toBe('INVALID_DEFINITION');
      });

      it('kills a command that exceeds timeoutMs (with its children) and rejects COMMAND_TIMEOUT, transient', async () => {
        const canary = `${dir}/timeout-canary`;
        const childCanary = `${dir}/timeout-child-canary`;
        // A background subshell is a separate process: only killing the process group stops it.
        const script = `(sleep 2; touch ${childCanary}) & sleep 2; touch ${canary}; wait`;
        const e = await rejection(t.exec(['sh', '-c', script], { timeoutMs: 300 }));
        expect(e.code).toBe('COMMAND_TIMEOUT');
        expect(e.transient).toBe(true);
        // Had the shell or its child survived, they would create the canaries after the sleep.
        await new Promise((r) => setTimeout(r, 3000));
        expect(await t.stat(canary)).toBeNull();
        expect(await t.stat(childCanary)).toBeNull();
        // The transport is still usable.
        expect((await t.exec(['true'])).exitCode).toBe(0);
      });

      it('runs 30 commands concurrently, all succeeding', async () => {
        const results = await Promise.all(
          Array.from({ length: 30 }, (_, i) => t.exec(['sh', '-c', 'sleep 0.2; printf "%s" "$1"', 'sh', String(i)])),
        );
        results.forEach((r, i) => {
          expect(r.exitCode).toBe(0);
          expect(r.stdout).toBe(String(i));
        });
      });
    });

    describe('files', () => {
      it('writeFile writes atomically, replaces existing files, applies mode, leaves no temporaries', async () => {
        const d = `${dir}/write`;
        await t.mkdirp(d);
        const p = `${d}/job.sh`;
        await t.writeFile(p, '#!/bin/sh\necho one\n', { mode: 0o750 });
        expect((await t.readRange(p, 0, 1000))?.toString()).toBe('#!/bin/sh\necho one\n');
        expect(await t.stat(p)).toMatchObject({ type: 'file', size: 19, mode: 0o750 });
        await t.writeFile(p, Buffer.from('two'));
        expect((await t.readRange(p, 0, 1000))?.toString()).toBe('two');
        expect((await t.list(d))?.map((e) => e.name)).toEqual(['job.sh']);
      });

      it('writeFile: a concurrent reader sees the old or the new content, never a mix or a partial file', async () => {
        const p = `${dir}/atomic.dat`;
        const size = 1 << 20;
        await t.writeFile(p, Buffer.alloc(size, 'a'));
        let writing = true;
        const reads: Promise<void> = (async () => {
          let n = 0;
          while (writing || n < 3) {
            const b = await t.readRange(p, 0, size + 10);
            expect(b).not.toBeNull();
            expect(b!.length).toBe(size);
            const first = b![0]!;
            expect(b!.every((x) => x === first)).toBe(true);
            n++;
          }
        })();
        for (let i = 0; i < 6; i++) await t.writeFile(p, Buffer.alloc(size, i % 2 === 0 ? 'b' : 'a'));
        writing = false;
        await reads;
      });

      it('readRange reads at offsets, returns empty at or past the end, null when absent', async () => {
        const p = `${dir}/range.txt`;
        await t.writeFile(p, '0123456789');
        expect((await t.readRange(p, 0, 4))?.toString()).toBe('0123');
        expect((await t.readRange(p, 5, 100))?.toString()).toBe('56789');
        expect((await t.readRange(p, 10, 5))?.length).toBe(0);
        expect((await t.readRange(p, 50, 5))?.length).toBe(0);
        expect(await t.readRange(`${dir}/absent.txt`, 0, 10)).toBeNull();
        // Larger than one SFTP read: the implementation must loop.
        const big = randomBytes(3 << 20);
        await t.writeFile(`${dir}/range.bin`, big);
        const slice = await t.readRange(`${dir}/range.bin`, 500_000, 2 << 20);
        expect(slice?.equals(big.subarray(500_000, 500_000 + (2 << 20)))).toBe(true);
      });

      it('stat uses lstat and reports type, size, mode and mtime; null when absent', async () => {
        const d = `${dir}/stat`;
        await t.mkdirp(d);
        await t.writeFile(`${d}/f`, 'hello', { mode: 0o640 });
        const ln = await t.exec(['ln', '-s', `${d}/f`, `${d}/link`]);
        expect(ln.exitCode).toBe(0);
        const f = await t.stat(`${d}/f`);
        expect(f).toMatchObject({ type: 'file', size: 5, mode: 0o640 });
        // Generous bound: the two sides' clocks may differ a little; SFTP has whole seconds.
        expect(Math.abs(f!.mtimeMs - Date.now())).toBeLessThan(10 * 60_000);
        expect((await t.stat(d))?.type).toBe('directory');
        expect((await t.stat(`${d}/link`))?.type).toBe('symlink');
        expect(await t.stat(`${d}/absent`)).toBeNull();
        expect(await t.stat(`${d}/f/below-a-file`)).toBeNull();
      });

      it('list returns entries without . and .., sorted, with lstat types; null when absent or not a directory', async () => {
        const d = `${dir}/list`;
        await t.mkdirp(`${d}/c`);
        await t.writeFile(`${d}/b`, '12');
        await t.writeFile(`${d}/a`, '1');
        await t.writeFile(`${d}/.hidden`, '');
        expect((await t.exec(['ln', '-s', 'c', `${d}/d`])).exitCode).toBe(0);
        const entries = await t.list(d);
        expect(entries?.map((e) => [e.name, e.type])).toEqual([
          ['.hidden', 'file'],
          ['a', 'file'],
          ['b', 'file'],
          ['c', 'directory'],
          ['d', 'symlink'],
        ]);
        expect(entries?.find((e) => e.name === 'b')?.size).toBe(2);
        expect(await t.list(`${d}/nope`)).toBeNull();
        // A file is not a directory that exists (sftp-server answers NO_SUCH_FILE for ENOTDIR).
        expect(await t.list(`${d}/a`)).toBeNull();
        expect(await t.list(`${dir}/list-empty-${randomBytes(2).toString('hex')}`)).toBeNull();
      });

      it('mkdirp creates parents, is idempotent, applies mode and refuses to pass through a file', async () => {
        const deep = `${dir}/mk/a/b/c`;
        await t.mkdirp(deep);
        await t.mkdirp(deep);
        expect((await t.stat(deep))?.type).toBe('directory');
        await t.mkdirp(`${dir}/mk/private`, 0o700);
        expect((await t.stat(`${dir}/mk/private`))?.mode).toBe(0o700);
        await t.writeFile(`${dir}/mk/file`, 'x');
        const e = await rejection(t.mkdirp(`${dir}/mk/file/sub`));
        expect(e.code).toBe('REMOTE_IO');
        const e2 = await rejection(t.mkdirp(`${dir}/mk/file`));
        expect(e2.code).toBe('REMOTE_IO');
      });

      it('remove deletes files and trees, ignores absent paths, keeps symlink targets, refuses /', async () => {
        const d = `${dir}/rm`;
        await t.mkdirp(`${d}/tree/x/y`);
        await t.writeFile(`${d}/tree/x/y/f`, 'f');
        await t.writeFile(`${d}/file`, 'f');
        await t.mkdirp(`${d}/empty`);
        await t.mkdirp(`${d}/target`);
        await t.writeFile(`${d}/target/keep`, 'k');
        expect((await t.exec(['ln', '-s', `${d}/target`, `${d}/link`])).exitCode).toBe(0);

        await t.remove(`${d}/file`);
        expect(await t.stat(`${d}/file`)).toBeNull();
        await t.remove(`${d}/file`);
        await t.remove(`${d}/empty`);
        expect(await t.stat(`${d}/empty`)).toBeNull();
        const e = await rejection(t.remove(`${d}/tree`));
        expect(e.code).toBe('REMOTE_IO');
        await t.remove(`${d}/tree`, { recursive: true });
        expect(await t.stat(`${d}/tree`)).toBeNull();
        await t.remove(`${d}/link`);
        await t.remove(`${d}/link`, { recursive: true });
        expect(await t.stat(`${d}/link`)).toBeNull();
        expect((await t.stat(`${d}/target/keep`))?.type).toBe('file');
        for (const bad of ['/', '', '//']) {
          const e2 = await rejection(t.remove(bad, { recursive: true }));
          expect(e2.code).toBe('INVALID_DEFINITION');
        }
      });

      it('upload and download round-trip with identical sha256, progress, mode, and no temporaries', async () => {
        const src = join(local, 'src.bin');
        const size = (3 << 20) + 12345;
        const hash = await makeRandomFile(src, size);
        const d = `${dir}/xfer`;
        await t.mkdirp(d);
        const up: Array<[number, number]> = [];
        await t.upload(src, `${d}/data.bin`, { onProgress: (n, total) => up.push([n, total]), mode: 0o600 });
        expect(up.length).toBeGreaterThan(0);
        expect(up.at(-1)).toEqual([size, size]);
        expect(up.every(([n, total], i) => total === size && (i === 0 || n > up[i - 1]![0]))).toBe(true);
        expect(await t.stat(`${d}/data.bin`)).toMatchObject({ type: 'file', size, mode: 0o600 });
        expect((await t.exec(['sha256sum', `${d}/data.bin`])).stdout.split(' ')[0]).toBe(hash);

        // Replacing an existing file works the same way.
        await t.upload(src, `${d}/data.bin`);
        expect((await t.list(d))?.map((e) => e.name)).toEqual(['data.bin']);

        const down: Array<[number, number]> = [];
        const dst = join(local, 'back.bin');
        await localWriteFile(dst, 'old content');
        await t.download(`${d}/data.bin`, dst, { onProgress: (n, total) => down.push([n, total]), mode: 0o640 });
        expect(down.at(-1)).toEqual([size, size]);
        expect(await sha256File(dst)).toBe(hash);
        expect((await localStat(dst)).mode & 0o777).toBe(0o640);

        // Empty files too (ssh2 reports no progress step for them).
        const empty = join(local, 'empty');
        await localWriteFile(empty, '');
        const ep: Array<[number, number]> = [];
        await t.upload(empty, `${d}/empty`, { onProgress: (n, total) => ep.push([n, total]) });
        expect(ep.at(-1)).toEqual([0, 0]);
        await t.download(`${d}/empty`, join(local, 'empty.back'));
        expect(await readFile(join(local, 'empty.back'), 'utf8')).toBe('');
      });

      it('download of a missing file and upload of a missing local file reject with REMOTE_IO and leave nothing behind', async () => {
        const e = await rejection(t.download(`${dir}/absent.bin`, join(local, 'never.bin')));
        expect(e.code).toBe('REMOTE_IO');
        await expect(localStat(join(local, 'never.bin'))).rejects.toThrow();
        const e2 = await rejection(t.upload(join(local, 'absent-local.bin'), `${dir}/never.bin`));
        expect(e2.code).toBe('REMOTE_IO');
        expect(await t.stat(`${dir}/never.bin`)).toBeNull();
      });

      it(
        'round-trips a large file (1 GiB by default) with identical sha256, streamed',
        async () => {
          const bytes = opts.bigFileBytes ?? GiB;
          const src = join(local, 'big.bin');
          const hash = await makeRandomFile(src, bytes);
          let lastUp = 0;
          await t.upload(src, `${dir}/big.bin`, { onProgress: (n) => (lastUp = n) });
          expect(lastUp).toBe(bytes);
          const remote = await t.exec(['sha256sum', `${dir}/big.bin`]);
          expect(remote.stdout.split(' ')[0]).toBe(hash);
          const dst = join(local, 'big.back');
          await t.download(`${dir}/big.bin`, dst);
          expect((await localStat(dst)).size).toBe(bytes);
          expect(await sha256File(dst)).toBe(hash);
          await rm(src, { force: true });
          await rm(dst, { force: true });
          await t.remove(`${dir}/big.bin`);
        },
        600_000,
      );
    });

    describe('close', () => {
      it('rejects a command in flight with a transient error (never a result), is idempotent, and refuses later use', async () => {
        const t2 = await makeTransport();
        await t2.exec(['true']);
        const inFlight = rejection(t2.exec(['sleep', '5']));
        await new Promise((r) => setTimeout(r, 300));
        await t2.close();
        const e = await inFlight;
        expect(e.code).toBe('CONNECTION_LOST');
        expect(e.transient).toBe(true);
        await t2.close();
        const after = await rejection(t2.exec(['true']));
        expect(after.transient).toBe(false);
      });
    });
  });
}
