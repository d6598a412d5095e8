/**
 * The reliability harness counts scheduler jobs by the bridge's tag, decoded by its own reader
 * (test/reliability/support.ts, readTag) rather than by the adapters' code. That reader must
 * understand every form the bridge gives a scheduler: the plain tag, and the short form a Torque
 * server with a 15-character name limit gets.
 */
import { describe, expect, it } from 'vitest';
import { pbsJobName } from '../../adapters/pbs/ids.js';
import { jobTag } from '../../src/engine/tag.js';
import { readTag } from '../reliability/support.js';

describe("the harness's tag reader", () => {
  it('reads job and attempt from the plain and the short Torque form, for this instance only', () => {
    for (const [jobId, attempt] of [[1, 0], [20, 0], [7, 1], [123_456, 3], [99_999_999, 12]] as const) {
      const tag = jobTag('0a1b2c', jobId, attempt);
      const torque = pbsJobName(tag, 'torque');
      expect({ tag, torque, plain: readTag(tag, '0a1b2c'), short: readTag(torque, '0a1b2c') }).toEqual({ tag, torque, plain: { jobId, attempt }, short: { jobId, attempt } });
      expect(readTag(tag, 'ffffff')).toBeUndefined();
      expect(readTag(torque, 'ffffff')).toBeUndefined();
    }
    // Some of these really are the short form (otherwise the case above proves nothing).
    expect(pbsJobName(jobTag('0a1b2c', 123_456, 3), 'torque')).toMatch(/^hc/);
    expect(readTag('my-own-job', '0a1b2c')).toBeUndefined();
  });
});
