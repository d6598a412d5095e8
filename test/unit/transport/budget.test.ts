import { describe, expect, it } from 'vitest';
import { channelRetryDelayMs, reconnectDelayMs, type ReconnectPolicy } from '../../../src/transport/ssh/backoff.js';
import { ChannelBudget } from '../../../src/transport/ssh/budget.js';

describe('ChannelBudget', () => {
  it('grants up to its size, then queues in FIFO order', async () => {
    const b = new ChannelBudget(2);
    const p1 = await b.acquire();
    const p2 = await b.acquire();
    const order: number[] = [];
    const w3 = b.acquire().then((p) => (order.push(3), p));
    const w4 = b.acquire().then((p) => (order.push(4), p));
    expect(b.inUse).toBe(2);
    expect(b.waiting).toBe(2);
    p1.release();
    const p3 = await w3;
    p2.release();
    const p4 = await w4;
    expect(order).toEqual([3, 4]);
    expect(b.inUse).toBe(2);
    p3.release();
    p4.release();
    expect(b.inUse).toBe(0);
  });

  it('counts a double release once', async () => {
    const b = new ChannelBudget(1);
    const p = await b.acquire();
    p.release();
    p.release();
    expect(b.inUse).toBe(0);
    const again = await b.acquire();
    expect(b.inUse).toBe(1);
    again.release();
  });

  it('close() rejects waiters and later acquires', async () => {
    const b = new ChannelBudget(1);
    await b.acquire();
    const waiting = b.acquire();
    b.close(new Error('closed'));
    await expect(waiting).rejects.toThrow('closed');
    await expect(b.acquire()).rejects.toThrow('closed');
  });

  it('refuses a non-positive size', () => {
    expect(() => new ChannelBudget(0)).toThrow(RangeError);
  });
});

describe('reconnect backoff', () => {
  const policy: ReconnectPolicy = { baseDelayMs: 1000, maxDelayMs: 8000, minIntervalMs: 2000, jitter: 0.5 };

  it('connects at once the first time, and keeps the minimum interval after that', () => {
    expect(reconnectDelayMs(0, Infinity, policy)).toBe(0);
    expect(reconnectDelayMs(0, 500, policy)).toBe(1500);
    expect(reconnectDelayMs(0, 5000, policy)).toBe(0);
  });

  it('backs off exponentially up to the cap, with jitter taking at most the configured share', () => {
    const noJitter = () => 0;
    const fullJitter = () => 1;
    const far = 1e9;
    expect([1, 2, 3, 4, 5, 10].map((f) => reconnectDelayMs(f, far, policy, noJitter))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect([1, 2, 3, 4].map((f) => reconnectDelayMs(f, far, policy, fullJitter))).toEqual([500, 1000, 2000, 4000]);
    // The minimum interval still wins over a short jittered backoff.
    expect(reconnectDelayMs(1, 0, policy, fullJitter)).toBe(2000);
  });

  it('doubles the channel-open retry delay', () => {
    expect([0, 1, 2, 5].map((a) => channelRetryDelayMs(a, 25))).toEqual([25, 50, 100, 800]);
  });
});
