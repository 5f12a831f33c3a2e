import { describe, it, expect } from 'vitest';
import { LogThrottle } from '../../src/modbus/log-throttle.js';

describe('LogThrottle', () => {
  it('admits the first line of each key', () => {
    const throttle = new LogThrottle(1000, () => 0);
    expect(throttle.admit('framing-error')).toBe(0);
    expect(throttle.admit('connection-limit')).toBe(0);
  });

  it('suppresses repeats within the interval', () => {
    let now = 0;
    const throttle = new LogThrottle(1000, () => now);
    expect(throttle.admit('framing-error')).toBe(0);
    now = 999;
    expect(throttle.admit('framing-error')).toBeNull();
    expect(throttle.admit('framing-error')).toBeNull();
  });

  it('reports the suppressed count after the interval', () => {
    let now = 0;
    const throttle = new LogThrottle(1000, () => now);
    throttle.admit('framing-error');
    throttle.admit('framing-error');
    throttle.admit('framing-error');
    now = 1000;
    expect(throttle.admit('framing-error')).toBe(2);
    now = 2000;
    expect(throttle.admit('framing-error')).toBe(0);
  });
});
