import { expect, it } from 'vitest';

it('passes but leaves an error behind', async () => {
  setTimeout(() => { throw new Error('thrown outside any test'); }, 0);
  await new Promise((r) => setTimeout(r, 50));
  expect(1).toBe(1);
});
