/**
 * API tokens in two layers: the table keeps rows and never overwrites one; TokenStore (src/auth)
 * makes, checks and revokes tokens over it, and only a hash of a token reaches the table.
 */
import { describe, expect, it } from 'vitest';
import { TokenStore } from '../../../src/auth/tokens.js';
import { clockedStore } from './helpers.js';

const hash = (c: string) => Buffer.alloc(32, c);

describe('TokenTable', () => {
  it('inserts, refuses an id that exists, lists oldest first, revokes once and touches', () => {
    const { store } = clockedStore();
    const t = store.tokens;
    expect(t.insert({ id: '0000000b', user: 'bob', hash: hash('b'), label: null, createdAt: 2 })).toBe(true);
    expect(t.insert({ id: '0000000a', user: 'alice', hash: hash('a'), label: 'laptop', createdAt: 1 })).toBe(true);
    expect(t.insert({ id: '0000000a', user: 'mallory', hash: hash('m'), label: null, createdAt: 3 })).toBe(false);
    expect(t.get('0000000a')).toEqual({ id: '0000000a', user: 'alice', hash: hash('a'), label: 'laptop', createdAt: 1, lastUsedAt: null, revokedAt: null });
    expect(t.get('ffffffff')).toBeUndefined();
    expect(t.list().map((r) => r.id)).toEqual(['0000000a', '0000000b']);
    expect(t.list('bob').map((r) => r.id)).toEqual(['0000000b']);
    expect(t.list('nobody')).toEqual([]);
    expect(t.revoke('0000000a', 10)).toBe(true);
    expect(t.revoke('0000000a', 20)).toBe(false);
    expect(t.revoke('ffffffff', 20)).toBe(false);
    expect(t.get('0000000a')?.revokedAt).toBe(10);
    t.touch('0000000b', 30);
    expect(t.get('0000000b')?.lastUsedAt).toBe(30);
  });
});

describe('TokenStore over the table', () => {
  it('creates a token shown once, stores only its hash, verifies it, and revokes it by id or by token', () => {
    const { store, clock } = clockedStore();
    const tokens = new TokenStore(store.tokens, () => clock.now);
    const { token, info } = tokens.create('alice', 'ci');
    expect(token).toMatch(/^hpcb_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(info).toMatchObject({ user: 'alice', label: 'ci', createdAt: clock.now, lastUsedAt: null, revokedAt: null });
    const row = store.tokens.get(info.id)!;
    expect(row.hash.toString('latin1')).not.toContain(token.split('_')[2]);
    expect(row.hash).toHaveLength(32);

    clock.now += 5;
    expect(tokens.verify(token)).toBe('alice');
    expect(tokens.list('alice')[0]?.lastUsedAt).toBe(clock.now);
    // Recorded to the minute: a use within it writes nothing, a use after it does.
    const firstUse = clock.now;
    clock.now += 59_000;
    expect(tokens.verify(token)).toBe('alice');
    expect(tokens.list('alice')[0]?.lastUsedAt).toBe(firstUse);
    clock.now += 1_000;
    expect(tokens.verify(token)).toBe('alice');
    expect(tokens.list('alice')[0]?.lastUsedAt).toBe(clock.now);
    expect(tokens.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(tokens.verify('hpcb_nonsense')).toBeUndefined();

    expect(tokens.revoke(token)).toBe(true);
    expect(tokens.verify(token)).toBeUndefined();
    const second = tokens.create('alice');
    expect(tokens.revoke(second.info.id)).toBe(true);
    expect(tokens.revoke(second.info.id)).toBe(false);
    expect(tokens.list().map((t) => t.revokedAt !== null)).toEqual([true, true]);
  });

  it('refuses a user name that could not be an account, naming the field', () => {
    const { store } = clockedStore();
    const tokens = new TokenStore(store.tokens);
    expect(() => tokens.create('bad user')).toThrow(expect.objectContaining({ code: 'INVALID_DEFINITION', context: { field: 'user' } }));
    expect(store.tokens.list()).toEqual([]);
  });
});
