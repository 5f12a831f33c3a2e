import { describe, expect, it } from 'vitest';
import { LoginRateLimiter } from '../../src/auth/login-rate-limit.js';

describe('login rate limit per address', () => {
  it('rejects past the limit, flags first', () => {
    let now = 1_000_000;
    const limiter = new LoginRateLimiter(3, () => now);
    expect([1, 2, 3].map(() => limiter.take('10.0.0.1').waitSeconds)).toEqual([0, 0, 0]);
    const first = limiter.take('10.0.0.1');
    expect(first.waitSeconds).toBe(60);
    expect(first.firstRejection).toBe(true);
    now += 30_000;
    expect(limiter.take('10.0.0.1')).toEqual({ waitSeconds: 30, firstRejection: false });
    // Another address has its own budget.
    expect(limiter.take('10.0.0.2').waitSeconds).toBe(0);
  });

  it('allows again once the oldest attempt leaves the window', () => {
    let now = 0;
    const limiter = new LoginRateLimiter(2, () => now);
    limiter.take('a');
    now = 10_000;
    limiter.take('a');
    expect(limiter.take('a').waitSeconds).toBe(50);
    now = 60_001;
    expect(limiter.take('a').waitSeconds).toBe(0);
    now = 60_002;
    // A new burst is flagged again.
    expect(limiter.take('a').firstRejection).toBe(true);
  });
});
