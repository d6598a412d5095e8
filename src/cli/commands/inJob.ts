/**
 * `snapshot` and `exec`: reach into a running job (a file of its directory as it is now, a short
 * command inside its allocation), as the job's own account on the cluster.
 */
import { Command } from 'commander';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { clientFrom, jobId, json, num, out, type CliStatus } from '../common.js';

/** The exit status `exec` gives a command its time limit cut off, as coreutils timeout does. */
export const EXEC_TIMED_OUT_EXIT = 124;

export function registerInJob(program: Command, status: CliStatus): void {
  program
    .command('snapshot')
    .description("print (or save) one file of a running job's directory as it is now, e.g. an intermediate result")
    .argument('<id>')
    .argument('<path>', 'relative to the job directory (no "..", not absolute)')
    .option('-o, --output <file>', 'write the bytes to this file instead of stdout')
    .action(async (id: string, path: string, o: { output?: string }, cmd: Command) => {
      const data = await clientFrom(cmd).snapshot(jobId(id), path);
      if (!o.output) return void process.stdout.write(data);
      const target = resolve(o.output);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(`${target}.part-${process.pid}`, data);
      await rename(`${target}.part-${process.pid}`, target);
      out(target);
    });

  program
    .command('exec')
    .description(
      "run a short command inside a running job's allocation (Slurm: a step beside the job; direct: beside it), in its directory, as the job's account. " +
        'Prints its stdout and stderr and exits with its exit status (124 when the time limit cut it off)',
    )
    .argument('<id>')
    .argument('<command...>', 'the program and its arguments (after --); no shell: use bash -c "..." for one')
    .option('-t, --timeout <seconds>', 'time limit (default 60)')
    .option('--json', 'the whole answer as JSON (exit status 0 unless the request failed)')
    .action(async (id: string, argv: string[], o: { timeout?: string; json?: boolean }, cmd: Command) => {
      const timeoutSeconds = num(o.timeout, 'timeout');
      const r = await clientFrom(cmd).execInJob(jobId(id), argv, timeoutSeconds !== undefined ? { timeoutSeconds } : {});
      if (o.json) return json(r);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      if (r.truncated) process.stderr.write(`hpc-bridge: output cut short (stdout ${r.stdoutBytes} bytes, stderr ${r.stderrBytes} bytes in all)\n`);
      if (r.timedOut) process.stderr.write(`hpc-bridge: the command was cut off at its time limit of ${r.timeoutSeconds} s\n`);
      status.exit = r.timedOut ? EXEC_TIMED_OUT_EXIT : (r.exitCode ?? 1);
    });
}
