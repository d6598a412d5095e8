import { describe, expect, it } from 'vitest';
import { PBS_STATES, isPbsStateLetter, pbsQueueState } from '../../../adapters/pbs/states.js';

describe('PBS state table', () => {
  it('has exactly the letters PBS Pro, Torque and the wrappers print, each with both flavors', () => {
    expect(Object.keys(PBS_STATES).sort()).toEqual(['B', 'C', 'E', 'F', 'H', 'M', 'Q', 'R', 'S', 'T', 'U', 'W', 'X']);
    for (const [letter, e] of Object.entries(PBS_STATES)) {
      expect(e.meaning, letter).not.toBe('');
      expect(['pending', 'held', 'running', 'suspended', 'done', 'unknown']).toContain(e.pbspro);
      expect(['pending', 'held', 'running', 'suspended', 'done', 'unknown']).toContain(e.torque);
    }
  });

  it.each([
    ['Q', 'pending', 'pending'],
    ['R', 'running', 'running'],
    ['E', 'running', 'running'],
    ['H', 'held', 'held'],
    ['W', 'pending', 'pending'],
    ['T', 'pending', 'pending'],
    ['S', 'suspended', 'suspended'],
    // Torque has no U; the wrappers print it for Slurm OUT_OF_MEMORY and DEADLINE, both final.
    ['U', 'suspended', 'done'],
    ['F', 'done', 'done'],
    ['X', 'done', 'done'],
    ['B', 'running', 'running'],
    ['M', 'unknown', 'unknown'],
    ['C', 'done', 'done'],
  ] as const)('%s → pbspro %s, torque %s', (letter, pbspro, torque) => {
    expect(pbsQueueState(letter, 'pbspro')).toBe(pbspro);
    expect(pbsQueueState(letter, 'torque')).toBe(torque);
  });

  it('U is the one letter whose meaning depends on the flavor (wrappers: Slurm OUT_OF_MEMORY or DEADLINE)', () => {
    const differing = Object.entries(PBS_STATES).filter(([, e]) => e.pbspro !== e.torque).map(([l]) => l);
    expect(differing).toEqual(['U']);
  });

  it('unknown, empty and lower-case letters are never guessed', () => {
    for (const l of ['Z', '', ' ', 'q', 'RUNNING', undefined]) {
      expect(pbsQueueState(l, 'pbspro')).toBe('unknown');
      expect(pbsQueueState(l, 'torque')).toBe('unknown');
    }
    expect(pbsQueueState(' R ', 'torque')).toBe('running');
    expect(isPbsStateLetter('toString')).toBe(false);
  });
});
