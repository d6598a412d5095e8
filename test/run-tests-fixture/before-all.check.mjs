import { beforeAll, expect, it } from 'vitest';

beforeAll(() => {
  throw new Error('beforeAll broke');
});
it('never runs', () => expect(1).toBe(1));
