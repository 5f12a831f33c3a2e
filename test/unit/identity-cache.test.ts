import { describe, expect, it } from 'vitest';
import { IdentityCache } from '../../src/auth/identity-cache.js';

describe('IdentityCache', () => {
  const connection = {};

  it('returns a value read from the current connection until a change is announced', async () => {
    const cache = new IdentityCache<string>();
    expect(cache.fresh('u1', connection)).toBeUndefined();
    await cache.read('u1', connection, async () => 'operator');
    expect(cache.fresh('u1', connection)).toBe('operator');
    cache.invalidate();
    expect(cache.fresh('u1', connection)).toBeUndefined();
    expect(cache.lastKnown('u1')).toBe('operator');
  });

  it('treats a value read from another connection as stale', async () => {
    const cache = new IdentityCache<string>();
    await cache.read('u1', connection, async () => 'operator');
    expect(cache.fresh('u1', {})).toBeUndefined();
    expect(cache.fresh('u1', null)).toBeUndefined();
  });

  it('does not keep as fresh a read that a change overlapped', async () => {
    const cache = new IdentityCache<string>();
    let finish: (value: string) => void = () => undefined;
    const reading = cache.read('u1', connection, () => new Promise<string>((resolve) => (finish = resolve)));
    cache.invalidate(); // the change commits while the old row is being read
    finish('operator before the change');
    expect(await reading).toBe('operator before the change');
    expect(cache.fresh('u1', connection)).toBeUndefined();
    expect(cache.lastKnown('u1')).toBe('operator before the change');
  });

  it('forgets a key whose read finds nothing', async () => {
    const cache = new IdentityCache<string>();
    await cache.read('u1', connection, async () => 'operator');
    expect(await cache.read('u1', connection, async () => null)).toBeNull();
    expect(cache.lastKnown('u1')).toBeUndefined();
  });

  it('stays within its bound', async () => {
    const cache = new IdentityCache<string>(3);
    for (const key of ['a', 'b', 'c', 'd']) await cache.read(key, connection, async () => key);
    expect(['a', 'b', 'c'].map((key) => cache.lastKnown(key))).toEqual([undefined, undefined, undefined]);
    expect(cache.fresh('d', connection)).toBe('d');
  });
});
