import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecResult } from '../../../src/transport/transport.js';
import { PBSPRO_STATUS_PROGRAM, TORQUE_AUTO_STATUS_PROGRAM, createPbsAdapter } from '../../../adapters/pbs/index.js';
import { fixture } from '../../helpers/fixtures.js';
import { makeJobDir, removeDir } from '../common/run-script.js';
import { body, result, thrown } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

/** A directory of fake PBS commands (bash scripts), first in PATH. */
function fakeBin(commands: Record<string, string>): string {
  const d = makeJobDir('hpcb-fakepbs-');
  dirs.push(d);
  const bin = join(d, 'bin');
  mkdirSync(bin);
  for (const [name, text] of Object.entries(commands)) {
    writeFileSync(join(bin, name), `#!/bin/bash\n${text}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  // Canned outputs the fakes cat.
  return bin;
}

/**
 * Run an adapter argv without a shell. stdin is closed: with a socket on stdin (node's default
 * stdio) and no SHLVL, bash takes itself for an rsh/ssh session and sources ~/.bashrc.
 */
function run(argv: readonly string[], bin: string): ExecResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { exitCode: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, durationMs: 1 };
}

function canned(bin: string, name: string, text: string): string {
  const p = join(bin, '..', name);
  writeFileSync(p, text);
  return p;
}

describe('createPbsAdapter', () => {
  it('names itself pbs; PBS Pro has an accounting command, Torque does not', () => {
    const pbspro = createPbsAdapter({ flavor: 'pbspro' });
    const torque = createPbsAdapter({ flavor: 'torque' });
    expect(pbspro.name).toBe('pbs');
    expect(pbspro.accountingCommand!(['40.pbs', '41[].pbs'], 'alice')).toEqual(['qstat', '-f', '-x', '40.pbs', '41[].pbs']);
    expect(() => pbspro.accountingCommand!(['--help'], 'alice')).toThrow();
    expect(pbspro.parseAccounting!(result(fixture('peers/pbspro_qstat_xf_json_finished_job_buildtest.txt'))).get('40.pbs')!.kind).toBe('completed');
    expect(torque.accountingCommand).toBeUndefined();
    expect(torque.parseAccounting).toBeUndefined();
  });

  it('status commands: one bash program on PBS Pro, the chosen format on Torque', () => {
    expect(createPbsAdapter({ flavor: 'pbspro' }).statusCommand('alice')).toEqual(['bash', '-c', PBSPRO_STATUS_PROGRAM, 'hpcb-pbs-status', 'alice']);
    expect(createPbsAdapter({ flavor: 'torque' }).statusCommand('alice')).toEqual(['bash', '-c', TORQUE_AUTO_STATUS_PROGRAM, 'hpcb-pbs-status']);
    expect(createPbsAdapter({ flavor: 'torque', torqueStatusFormat: 'xml' }).statusCommand('alice')).toEqual(['qstat', '-x', '-t']);
    expect(createPbsAdapter({ flavor: 'torque', torqueStatusFormat: 'text' }).statusCommand('alice')).toEqual(['qstat', '-f', '-1']);
    expect(thrown(() => createPbsAdapter({ flavor: 'pbspro' }).statusCommand('-u root')).code).toBe('INVALID_CONFIG');
  });

  it('parseStatus reads whatever format the command produced', () => {
    const torque = createPbsAdapter({ flavor: 'torque' });
    expect(torque.parseStatus(result(fixture('peers/torque_qstat_x_xml_fyrd.txt'))).length).toBe(6);
    expect(torque.parseStatus(result(body('slurm-22.05/12d-qstat-f-running.txt')))[0]!.nativeId).toBe('29');
    expect(createPbsAdapter({ flavor: 'pbspro' }).parseStatus(result(fixture('peers/pbspro_qstat_f_aiida_multi_job.txt'))).length).toBe(6);
  });
});

describe('the PBS Pro status program (run against fake qselect/qstat)', () => {
  const json = fixture('peers/pbspro_qstat_xf_json_finished_job_buildtest.txt');

  function pbsBin(qselect: string): string {
    const bin = fakeBin({});
    const doc = canned(bin, 'job40.json', json);
    writeFileSync(
      join(bin, 'qselect'),
      `#!/bin/bash\n[ "$*" = "-x -u alice" ] || { echo "qselect: bad args: $*" >&2; exit 2; }\n${qselect}\n`,
    );
    chmodSync(join(bin, 'qselect'), 0o755);
    writeFileSync(
      join(bin, 'qstat'),
      [
        '#!/bin/bash',
        '[ "$1 $2 $3" = "-f -x -t" ] || { echo "qstat: bad args: $*" >&2; exit 2; }',
        'shift 3; rc=0',
        'for id in "$@"; do',
        `  case $id in 40.pbs) cat ${doc} ;; *) echo "qstat: Unknown Job Id $id" >&2; rc=153 ;; esac`,
        'done',
        'exit $rc',
      ].join('\n'),
    );
    chmodSync(join(bin, 'qstat'), 0o755);
    return bin;
  }

  const pbspro = createPbsAdapter({ flavor: 'pbspro' });

  it('lists the user\'s jobs with qselect and reads them all, arrays included, without globbing ids', () => {
    const bin = pbsBin("printf '40.pbs\\n'");
    // A file that "41[2].pbs" would match as a glob must not change the id.
    writeFileSync(join(bin, '..', '412.pbs'), '');
    const r = run(pbspro.statusCommand('alice'), bin);
    expect(r.exitCode).toBe(0);
    expect(pbspro.parseStatus(r).map((o) => [o.nativeId, o.state])).toEqual([['40.pbs', 'done']]);
  });

  it('a job that expires between qselect and qstat is simply absent', () => {
    const r = run(pbspro.statusCommand('alice'), pbsBin("printf '40.pbs\\n41[2].pbs\\n'"));
    expect(r.exitCode).toBe(123); // xargs: a qstat run failed
    expect(r.stderr).toContain('qstat: Unknown Job Id 41[2].pbs');
    expect(pbspro.parseStatus(r).map((o) => o.nativeId)).toEqual(['40.pbs']);
  });

  it('with commandDir, qselect and qstat come from that directory, not from PATH', () => {
    const bin = pbsBin("printf '40.pbs\\n'");
    const withDir = createPbsAdapter({ flavor: 'pbspro', commandDir: `${bin}/` });
    const argv = withDir.statusCommand('alice');
    expect(argv.at(-1)).toBe(bin);
    const r = run(argv, join(bin, '..', 'nowhere'));
    expect(r.exitCode).toBe(0);
    expect(withDir.parseStatus(r).map((o) => o.nativeId)).toEqual(['40.pbs']);
    expect(withDir.submitCommand('job.sh', { jobDir: '/j', tag: 't', bridgeJobId: 1, attempt: 0, defaults: {} })).toEqual([`${bin}/qsub`, 'job.sh']);
    expect(withDir.cancelCommand(['40.pbs'])).toEqual([`${bin}/qdel`, '40.pbs']);
    expect(withDir.accountingCommand!(['40.pbs'], 'alice')[0]).toBe(`${bin}/qstat`);
  });

  it('no jobs: exit 0 and no output; a failing qselect is a failed poll', () => {
    const none = run(pbspro.statusCommand('alice'), pbsBin('true'));
    expect(none).toMatchObject({ exitCode: 0, stdout: '' });
    expect(pbspro.parseStatus(none)).toEqual([]);
    const down = run(pbspro.statusCommand('alice'), pbsBin('echo "qselect: cannot connect to server pbs01 (errno=111)" >&2; exit 111'));
    expect(down.exitCode).toBe(111);
    expect(thrown(() => pbspro.parseStatus(down))).toMatchObject({ code: 'SCHEDULER_ERROR', transient: true });
  });
});

describe('the Torque status program and the wrappers\' missing -x', () => {
  const wrapperRefusal = body('slurm-22.05/12e-qstat-x-running.txt').split('\n--- qstat -f -x')[0]!;

  function torqueBin(xBehaviour: string, fBehaviour: string): string {
    const bin = fakeBin({});
    const refusal = canned(bin, 'refusal.txt', wrapperRefusal);
    const text = canned(bin, 'text.txt', body('slurm-22.05/12d-qstat-f-running.txt'));
    const xml = canned(bin, 'xml.txt', fixture('peers/torque_qstat_x_xml_fyrd.txt'));
    const sub = (s: string) => s.replace('@REFUSAL@', refusal).replace('@TEXT@', text).replace('@XML@', xml);
    writeFileSync(
      join(bin, 'qstat'),
      ['#!/bin/bash', 'case "$*" in', `  "-x -t") ${sub(xBehaviour)} ;;`, `  "-f -1") ${sub(fBehaviour)} ;;`, '  *) echo "bad args: $*" >&2; exit 99 ;;', 'esac'].join('\n'),
    );
    chmodSync(join(bin, 'qstat'), 0o755);
    return bin;
  }

  const torque = createPbsAdapter({ flavor: 'torque' });

  it('real Torque: the XML is read and nothing else runs', () => {
    const r = run(torque.statusCommand('alice'), torqueBin('cat @XML@', 'echo "should not run" >&2; exit 98'));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(torque.parseStatus(r).map((o) => o.nativeState)).toEqual(['R', 'Q', 'C', 'C', 'C', 'C']);
  });

  it('slurm-22.05/12e-qstat-x-running.txt: on "Unknown option: x" (exit 2) the program falls back to qstat -f -1', () => {
    expect(wrapperRefusal).toMatch(/^Unknown option: x\nUsage:/);
    const r = run(torque.statusCommand('alice'), torqueBin('cat @REFUSAL@ >&2; exit 2', 'cat @TEXT@'));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(torque.parseStatus(r)).toEqual([{ nativeId: '29', name: 'pbsjob', state: 'pending', nativeState: 'Q' }]);
  });

  it('the wrappers with no jobs: refusal, then exit 153 with no output, is an empty queue', () => {
    const r = run(torque.statusCommand('alice'), torqueBin('cat @REFUSAL@ >&2; exit 2', 'exit 153'));
    expect(r).toMatchObject({ exitCode: 153, stdout: '', stderr: '' });
    expect(torque.parseStatus(r)).toEqual([]);
  });

  it('other failures are passed through, stderr and all', () => {
    const r = run(torque.statusCommand('alice'), torqueBin('echo "qstat: cannot connect to server torque01 (errno=111)" >&2; exit 2', 'echo no >&2; exit 98'));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('cannot connect');
    expect(thrown(() => torque.parseStatus(r))).toMatchObject({ code: 'SCHEDULER_ERROR', transient: true });
  });

  it('a cluster pinned to xml that turns out to be the wrappers is told to use text', () => {
    const xmlOnly = createPbsAdapter({ flavor: 'torque', torqueStatusFormat: 'xml' });
    const r = run(xmlOnly.statusCommand('alice'), torqueBin('cat @REFUSAL@ >&2; exit 2', 'exit 98'));
    const e = thrown(() => xmlOnly.parseStatus(r));
    expect(e).toMatchObject({ code: 'SCHEDULER_ERROR', transient: false });
    expect(e.context).toMatchObject({ statusFormatRefused: 'xml', suggestedStatusFormat: 'text' });
  });
});
