import { describe, expect, it } from 'vitest';
import { parsePbsnodes, parseQstatTable, parseQueueTables, parseQueuesJson } from '../../../adapters/pbs/tables.js';
import { fixture } from '../../helpers/fixtures.js';
import { body, fromFixture, section } from './helpers.js';

describe('qstat tables', () => {
  it('slurm-22.05/12c-qstat-running.txt: every job the wrappers know, finished ones as C', () => {
    const all = section(body('slurm-22.05/12c-qstat-running.txt'), /^Job id/, /^--- qstat 29/);
    const rows = parseQstatTable(all);
    expect(rows).toHaveLength(29);
    expect(rows.filter((r) => r.state === 'C')).toHaveLength(25);
    expect(rows.slice(-4)).toEqual([
      { id: '26', name: 'q1', user: 'hpcuser', state: 'R', queue: 'debug' },
      { id: '27', name: 'q2', user: 'hpcuser', state: 'R', queue: 'debug' },
      { id: '28', name: 'q3', user: 'hpcuser', state: 'Q', queue: 'debug' },
      { id: '29', name: 'pbsjob', user: 'hpcuser', state: 'Q', queue: 'debug' },
    ]);
    // Array elements are separate numeric jobs with the array's name: no 12[3] ids here.
    expect(rows.filter((r) => r.name === 'arr').map((r) => r.id)).toEqual(['12', '18', '24', '25', '11']);
    const one = section(body('slurm-22.05/12c-qstat-running.txt'), /^--- qstat 29/);
    expect(parseQstatTable(one)).toEqual([{ id: '29', name: 'pbsjob', user: 'hpcuser', state: 'Q', queue: 'debug' }]);
  });

  it('slurm-22.05/12l-qstat-f-completed.txt: the -a and -n -1 tables', () => {
    const rows = parseQstatTable(section(body('slurm-22.05/12l-qstat-f-completed.txt'), /^vm:/));
    expect(rows).toEqual([
      { id: '29', user: 'hpcuser', queue: 'debug', name: 'pbsjob', state: 'Q', extra: { sessionId: '--', nodes: '1', tasks: '1', memory: '--', walltime: '00:02', elapsed: '00:00' } },
      { id: '29', user: 'hpcuser', queue: 'debug', name: 'pbsjob', state: 'Q', extra: { sessionId: '--', nodes: '1', tasks: '1', memory: '--', walltime: '00:02', elapsed: '00:00', execHost: '--' } },
    ]);
  });

  it('slurm-22.05/12n-qstat-pbsjob-completed.txt and 12p-qstat-running.txt: the table before the -f block', () => {
    expect(parseQstatTable(body('slurm-22.05/12n-qstat-pbsjob-completed.txt'))).toEqual([{ id: '29', name: 'pbsjob', user: 'hpcuser', state: 'C', queue: 'debug' }]);
    expect(parseQstatTable(body('slurm-22.05/12p-qstat-running.txt'))).toEqual([{ id: '30', name: 'pbsjob', user: 'hpcuser', state: 'R', queue: 'debug' }]);
  });
});

describe('queues', () => {
  it('slurm-22.05/12k-qstat-Q-q.txt: qstat -Q and qstat -q (which exits 153 on the wrappers)', () => {
    const r = fromFixture('slurm-22.05/12k-qstat-Q-q.txt');
    expect(r.exitCode).toBe(153);
    expect(parseQueueTables(r.stdout)).toEqual([
      { name: 'debug', enabled: true, started: true, type: 'E', running: 2, queued: 1 },
      { name: 'short', enabled: true, started: true, type: 'E', maxWalltime: '00:05:00', running: 0, queued: 0 },
    ]);
    // qstat -Q alone: the wrappers print "?" for counts they do not know.
    const onlyQ = section(r.stdout, /^Queue\s+Max/, /^Queue\s+Memory/);
    expect(parseQueueTables(onlyQ)).toEqual([
      { name: 'debug', enabled: true, started: true, type: 'E' },
      { name: 'short', enabled: true, started: true, type: 'E' },
    ]);
  });

  it('peers/pbspro_qstat_Q_f_json_buildtest.txt: qstat -Q -f -F json', () => {
    const [q] = parseQueuesJson(fixture('peers/pbspro_qstat_Q_f_json_buildtest.txt'));
    expect(q).toMatchObject({ name: 'workq', type: 'Execution', enabled: true, started: true, running: 0, queued: 0 });
    expect(q!.attrs['resources_assigned']).toEqual({ mem: '0kb', ncpus: 0, nodect: 0 });
    expect(q!.maxWalltime).toBeUndefined();
  });
});

describe('pbsnodes -a', () => {
  it('slurm-22.05/12j-pbsnodes.txt: one node, busy', () => {
    const nodes = parsePbsnodes(body('slurm-22.05/12j-pbsnodes.txt'));
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ name: 'vm', state: 'job-exclusive', cpus: 2 });
    expect(nodes[0]!.attrs['ntype']).toBe('cluster');
    expect(nodes[0]!.attrs['status']).toContain('slurmstate=allocated');
  });

  it('PBS Pro layout: resources_available.ncpus and several nodes', () => {
    const nodes = parsePbsnodes('cn001\n     Mom = cn001\n     state = free\n     resources_available.ncpus = 64\n\ncn002\n     state = down,offline\n');
    expect(nodes.map((n) => [n.name, n.state, n.cpus])).toEqual([
      ['cn001', 'free', 64],
      ['cn002', 'down,offline', undefined],
    ]);
  });
});
