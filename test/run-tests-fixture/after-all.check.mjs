import { afterAll, expect, it } from 'vitest';

afterAll(() => {
  throw new Error('afterAll broke after its tests passed');
});
it('passes', () => expect(1).toBe(1));
it('passes too', () => expect(2).toBe(2));
