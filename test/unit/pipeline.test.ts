import { describe, expect, it } from 'vitest';
import type { EmergencyStopState } from '../../src/machines/emergency-stop.js';
import {
  applyRecoveryRamp,
  applyStopValue,
  clampToLimits,
  computePumpOutput,
  limitRateOfChange,
  PUMP_MODE_CODES,
  rampToward,
  rateLimitSeconds,
  selectSource,
  type PumpLimits,
  type PumpOutputInput,
  type SourceInput,
} from '../../src/station/pipeline.js';

/** Speed pump, 10–50 Hz, 2 Hz/s, failsafe 30 Hz, stop 15 Hz (not the minimum, so tests can tell them apart). */
const LIMITS: PumpLimits = {
  minimum: 10,
  maximum: 50,
  maxRatePerSecond: 2,
  failsafeSetpoint: 30,
  stopSetpoint: 15,
};

const ALL_STATES: EmergencyStopState[] = ['restoring', 'operational', 'stopped', 'held', 'recovering'];
const STOP_IMAGE: EmergencyStopState[] = ['restoring', 'stopped', 'held'];

function input(overrides: Partial<PumpOutputInput> = {}): PumpOutputInput {
  return {
    planValue: 40,
    stopState: 'operational',
    limits: LIMITS,
    previousSetpoint: 20,
    elapsedSeconds: 1,
    ...overrides,
  };
}

/** Mulberry32: a small seeded generator, so the randomized checks are repeatable. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function plan(planValue: number | null): SourceInput {
  return { planValue, overrideValue: null, watchdog: null };
}

describe('selectSource', () => {
  it('uses finite plan value', () => {
    expect(selectSource(plan(42), LIMITS)).toEqual({ value: 42, mode: 'plan', failsafeReason: null });
  });

  it('keeps out-of-range plan value', () => {
    expect(selectSource(plan(999), LIMITS)).toEqual({ value: 999, mode: 'plan', failsafeReason: null });
  });

  it.each([
    ['null', null],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('falls back to failsafe on %s', (_label, planValue) => {
    expect(selectSource(plan(planValue), LIMITS)).toEqual({ value: 30, mode: 'failsafe', failsafeReason: 'no_plan' });
  });

  it('treats zero as a plan value', () => {
    expect(selectSource(plan(0), LIMITS)).toEqual({ value: 0, mode: 'plan', failsafeReason: null });
  });

  it('override wins over plan', () => {
    expect(selectSource({ planValue: 40, overrideValue: 12, watchdog: null }, LIMITS)).toEqual({ value: 12, mode: 'override', failsafeReason: null });
  });

  it('override wins over missing plan', () => {
    expect(selectSource({ planValue: null, overrideValue: 12, watchdog: null }, LIMITS).mode).toBe('override');
  });

  it('override wins over stale plan', () => {
    expect(selectSource({ planValue: 40, overrideValue: 12, watchdog: 'plan_stale' }, LIMITS).mode).toBe('override');
  });

  it('database outage beats override', () => {
    expect(selectSource({ planValue: 40, overrideValue: 12, watchdog: 'database_unreachable' }, LIMITS)).toEqual({
      value: 30,
      mode: 'failsafe',
      failsafeReason: 'database_unreachable',
    });
  });

  it('stale plan gives failsafe', () => {
    expect(selectSource({ planValue: 40, overrideValue: null, watchdog: 'plan_stale' }, LIMITS)).toEqual({ value: 30, mode: 'failsafe', failsafeReason: 'plan_stale' });
  });

  it('ignores non-finite override', () => {
    expect(selectSource({ planValue: 40, overrideValue: Number.NaN, watchdog: null }, LIMITS).mode).toBe('plan');
  });
});

describe('limitRateOfChange', () => {
  const planSource = { value: 40, mode: 'plan', failsafeReason: null } as const;
  const failsafeSource = { value: 30, mode: 'failsafe', failsafeReason: 'no_plan' } as const;

  it('limits plan change in operation', () => {
    expect(limitRateOfChange({ target: 40, previous: 20, source: planSource, stopState: 'operational', limits: LIMITS, elapsedSeconds: 1 })).toBe(22);
  });

  it('limits override change', () => {
    const source = { value: 12, mode: 'override', failsafeReason: null } as const;
    expect(limitRateOfChange({ target: 12, previous: 20, source, stopState: 'operational', limits: LIMITS, elapsedSeconds: 0.5 })).toBe(19);
  });

  it('jumps to failsafe in operation', () => {
    expect(limitRateOfChange({ target: 30, previous: 50, source: failsafeSource, stopState: 'operational', limits: LIMITS, elapsedSeconds: 0.1 })).toBe(30);
  });

  it('ramps to failsafe while recovering', () => {
    expect(limitRateOfChange({ target: 30, previous: 15, source: failsafeSource, stopState: 'recovering', limits: LIMITS, elapsedSeconds: 1 })).toBe(17);
  });
});

describe('applyStopValue', () => {
  it.each(STOP_IMAGE)('%s gives stop setpoint', (stopState) => {
    expect(applyStopValue(40, stopState, LIMITS)).toEqual({ value: 15, stopped: true });
  });

  it.each(['operational', 'recovering'] as const)('%s passes value', (stopState) => {
    expect(applyStopValue(40, stopState, LIMITS)).toEqual({ value: 40, stopped: false });
  });
});

describe('applyRecoveryRamp', () => {
  it('reports ramping below target', () => {
    expect(applyRecoveryRamp(20, 40, 'recovering')).toEqual({ value: 20, recovering: true, ramping: true });
  });

  it('reports done at target', () => {
    expect(applyRecoveryRamp(40, 40, 'recovering')).toEqual({ value: 40, recovering: true, ramping: false });
  });

  it('passes through in operation', () => {
    expect(applyRecoveryRamp(20, 40, 'operational')).toEqual({ value: 20, recovering: false, ramping: false });
  });
});

describe('clampToLimits', () => {
  it.each([
    [60, 50, true],
    [50.0001, 50, true],
    [9, 10, true],
    [-5, 10, true],
    [10, 10, false],
    [50, 50, false],
    [33.3, 33.3, false],
  ])('clamps %s to %s', (value, expected, clamped) => {
    const result = clampToLimits(value, LIMITS);
    expect(result.value).toBe(expected);
    expect(result.clamped).toBe(clamped);
  });
});

describe('rampToward', () => {
  it('steps up by rate × elapsed', () => {
    expect(rampToward(20, 40, LIMITS, 3)).toBe(26);
  });

  it('steps down by rate × elapsed', () => {
    expect(rampToward(40, 20, LIMITS, 2.5)).toBe(35);
  });

  it('reaches target within one step', () => {
    expect(rampToward(20, 21, LIMITS, 1)).toBe(21);
  });

  it('reaches target exactly at step', () => {
    expect(rampToward(20, 22, LIMITS, 1)).toBe(22);
  });

  it('holds on zero elapsed', () => {
    expect(rampToward(20, 40, LIMITS, 0)).toBe(20);
  });

  it('holds on negative elapsed', () => {
    expect(rampToward(20, 40, LIMITS, -5)).toBe(20);
  });

  it('stays at target', () => {
    expect(rampToward(30, 30, LIMITS, 0)).toBe(30);
  });

  it('never overshoots target', () => {
    for (let elapsed = 0; elapsed <= 20; elapsed += 0.25) {
      const up = rampToward(20, 40, LIMITS, elapsed);
      const down = rampToward(40, 20, LIMITS, elapsed);
      expect(up).toBeLessThanOrEqual(40);
      expect(up).toBeGreaterThanOrEqual(20);
      expect(down).toBeGreaterThanOrEqual(20);
      expect(down).toBeLessThanOrEqual(40);
    }
  });
});

describe('stop image states', () => {
  it.each(STOP_IMAGE)('%s publishes stop setpoint', (stopState) => {
    const output = computePumpOutput(input({ stopState }));
    expect(output.setpoint).toBe(15);
    expect(output.mode).toBe('stopped');
    expect(output.ramping).toBe(false);
  });

  it.each(STOP_IMAGE)('%s ignores failsafe', (stopState) => {
    const output = computePumpOutput(input({ stopState, planValue: null }));
    expect(output.setpoint).toBe(15);
    expect(output.mode).toBe('stopped');
    expect(output.failsafe).toBe(true);
  });

  it.each(STOP_IMAGE)('%s reports clamped target', (stopState) => {
    const output = computePumpOutput(input({ stopState, planValue: 80 }));
    expect(output.setpoint).toBe(15);
    expect(output.targetSetpoint).toBe(50);
    expect(output.clamped).toBe(true);
  });

  it('clamps out-of-range stop setpoint', () => {
    const output = computePumpOutput(input({ stopState: 'stopped', limits: { ...LIMITS, stopSetpoint: 0 } }));
    expect(output.setpoint).toBe(10);
  });
});

describe('operational pump', () => {
  it('publishes plan value', () => {
    const output = computePumpOutput(input({ planValue: 42, previousSetpoint: 42 }));
    expect(output.setpoint).toBe(42);
    expect(output.targetSetpoint).toBe(42);
    expect(output.mode).toBe('plan');
    expect(output.clamped).toBe(false);
    expect(output.failsafe).toBe(false);
    expect(output.ramping).toBe(false);
  });

  it('clamps above maximum', () => {
    const output = computePumpOutput(input({ planValue: 75, previousSetpoint: 50 }));
    expect(output.setpoint).toBe(50);
    expect(output.targetSetpoint).toBe(50);
    expect(output.clamped).toBe(true);
    expect(output.mode).toBe('plan');
  });

  it('clamps below minimum', () => {
    const output = computePumpOutput(input({ planValue: -3, previousSetpoint: 10 }));
    expect(output.setpoint).toBe(10);
    expect(output.targetSetpoint).toBe(10);
    expect(output.clamped).toBe(true);
  });

  it.each([
    ['null', null],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('uses failsafe on %s plan', (_label, planValue) => {
    const output = computePumpOutput(input({ planValue }));
    expect(output.setpoint).toBe(30);
    expect(output.mode).toBe('failsafe');
    expect(output.failsafe).toBe(true);
    expect(output.clamped).toBe(false);
  });

  it('limits plan jump to rate', () => {
    const output = computePumpOutput(input({ planValue: 50, previousSetpoint: 10, elapsedSeconds: 0.1 }));
    expect(output.setpoint).toBeCloseTo(10.2, 10);
    expect(output.mode).toBe('plan');
    expect(output.ramping).toBe(true);
  });

  it('jumps from plan to failsafe', () => {
    const output = computePumpOutput(input({ planValue: null, previousSetpoint: 48, elapsedSeconds: 0.1 }));
    expect(output.setpoint).toBe(30);
    expect(output.ramping).toBe(false);
  });

  it('leaves failsafe at rate', () => {
    const output = computePumpOutput(input({ planValue: 40, previousSetpoint: 30, elapsedSeconds: 1 }));
    expect(output.setpoint).toBe(32);
    expect(output.mode).toBe('plan');
  });

  it('publishes override as mode override', () => {
    const output = computePumpOutput(input({ planValue: 40, overrideValue: 25, previousSetpoint: 25 }));
    expect(output.setpoint).toBe(25);
    expect(output.mode).toBe('override');
  });

  it('reports clamped request', () => {
    const output = computePumpOutput(input({ planValue: 75, previousSetpoint: 50 }));
    expect(output.requestedValue).toBe(75);
  });

  it('steady-state step within rate limit', () => {
    const random = seededRandom(7);
    for (let index = 0; index < 2000; index += 1) {
      const previousSetpoint = LIMITS.minimum + random() * (LIMITS.maximum - LIMITS.minimum);
      const elapsedSeconds = random() * 3;
      const planValue = (random() - 0.5) * 200;
      const output = computePumpOutput(input({ planValue, previousSetpoint, elapsedSeconds }));
      expect(Math.abs(output.setpoint - previousSetpoint)).toBeLessThanOrEqual(LIMITS.maxRatePerSecond * elapsedSeconds + 1e-9);
    }
  });
});

describe('recovering pump', () => {
  it('ramps by rate × elapsed', () => {
    const output = computePumpOutput(input({ stopState: 'recovering', planValue: 40, previousSetpoint: 15, elapsedSeconds: 2 }));
    expect(output.setpoint).toBe(19);
    expect(output.mode).toBe('recovering');
    expect(output.ramping).toBe(true);
    expect(output.targetSetpoint).toBe(40);
  });

  it('ramps down toward lower target', () => {
    const output = computePumpOutput(input({ stopState: 'recovering', planValue: 12, previousSetpoint: 30, elapsedSeconds: 0.5 }));
    expect(output.setpoint).toBe(29);
    expect(output.ramping).toBe(true);
  });

  it('stops ramping at target', () => {
    const output = computePumpOutput(input({ stopState: 'recovering', planValue: 40, previousSetpoint: 39, elapsedSeconds: 1 }));
    expect(output.setpoint).toBe(40);
    expect(output.ramping).toBe(false);
    expect(output.mode).toBe('recovering');
  });

  it('ramps toward clamped target', () => {
    const output = computePumpOutput(input({ stopState: 'recovering', planValue: 90, previousSetpoint: 49, elapsedSeconds: 10 }));
    expect(output.setpoint).toBe(50);
    expect(output.targetSetpoint).toBe(50);
    expect(output.clamped).toBe(true);
    expect(output.ramping).toBe(false);
  });

  it('ramps toward failsafe', () => {
    const output = computePumpOutput(input({ stopState: 'recovering', planValue: null, previousSetpoint: 15, elapsedSeconds: 1 }));
    expect(output.setpoint).toBe(17);
    expect(output.failsafe).toBe(true);
    expect(output.mode).toBe('recovering');
    expect(output.ramping).toBe(true);
  });

  it('holds on zero elapsed', () => {
    const output = computePumpOutput(input({ stopState: 'recovering', planValue: 40, previousSetpoint: 15, elapsedSeconds: 0 }));
    expect(output.setpoint).toBe(15);
    expect(output.ramping).toBe(true);
  });

  it('ramps from previous setpoint clamped into limits', () => {
    const output = computePumpOutput(input({ stopState: 'recovering', planValue: 40, previousSetpoint: 0, elapsedSeconds: 1 }));
    expect(output.setpoint).toBe(12);
    expect(output.ramping).toBe(true);
  });

  it('falls back to stop setpoint on NaN elapsed', () => {
    const output = computePumpOutput(input({ stopState: 'recovering', planValue: 40, previousSetpoint: 20, elapsedSeconds: Number.NaN }));
    expect(output.setpoint).toBe(15);
    expect(output.ramping).toBe(true);
  });

  it('reaches target over repeated steps', () => {
    let setpoint = LIMITS.stopSetpoint;
    let steps = 0;
    let ramping = true;
    while (ramping && steps < 100) {
      const output = computePumpOutput(input({ stopState: 'recovering', planValue: 40, previousSetpoint: setpoint, elapsedSeconds: 1 }));
      expect(Math.abs(output.setpoint - setpoint)).toBeLessThanOrEqual(LIMITS.maxRatePerSecond);
      setpoint = output.setpoint;
      ramping = output.ramping;
      steps += 1;
    }
    expect(setpoint).toBe(40);
    // (40 - 15) / 2 Hz per second = 12.5 s, so the 13th one-second step lands on the target.
    expect(steps).toBe(13);
  });
});

describe('output bounds', () => {
  const specialValues = [null, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1e9, 1e9, -0, 0];

  it.each(ALL_STATES)('%s stays within limits', (stopState) => {
    const random = seededRandom(0xc0ffee);
    for (let index = 0; index < 2000; index += 1) {
      const planValue = index < specialValues.length ? (specialValues[index] ?? null) : (random() - 0.5) * 200;
      const previousSetpoint = (random() - 0.5) * 200;
      const elapsedSeconds = (random() - 0.2) * 30;
      const output = computePumpOutput(input({ stopState, planValue, previousSetpoint, elapsedSeconds }));
      expect(output.setpoint).toBeGreaterThanOrEqual(LIMITS.minimum);
      expect(output.setpoint).toBeLessThanOrEqual(LIMITS.maximum);
      expect(output.targetSetpoint).toBeGreaterThanOrEqual(LIMITS.minimum);
      expect(output.targetSetpoint).toBeLessThanOrEqual(LIMITS.maximum);
    }
  });

  it('recovery step within rate limit', () => {
    const random = seededRandom(42);
    for (let index = 0; index < 2000; index += 1) {
      const previousSetpoint = LIMITS.minimum + random() * (LIMITS.maximum - LIMITS.minimum);
      const elapsedSeconds = random() * 5;
      const planValue = (random() - 0.5) * 200;
      const output = computePumpOutput(input({ stopState: 'recovering', planValue, previousSetpoint, elapsedSeconds }));
      const step = Math.abs(output.setpoint - previousSetpoint);
      expect(step).toBeLessThanOrEqual(LIMITS.maxRatePerSecond * elapsedSeconds + 1e-9);
      expect(output.ramping).toBe(output.setpoint !== output.targetSetpoint);
    }
  });

  it('on_off limits stay within 0..1', () => {
    const onOff: PumpLimits = { minimum: 0, maximum: 1, maxRatePerSecond: 1, failsafeSetpoint: 0, stopSetpoint: 0 };
    for (const planValue of [-1, 0, 0.5, 1, 2, null, Number.NaN]) {
      const output = computePumpOutput(input({ limits: onOff, planValue }));
      expect(output.setpoint).toBeGreaterThanOrEqual(0);
      expect(output.setpoint).toBeLessThanOrEqual(1);
    }
  });
});

describe('mode codes', () => {
  it('matches published numbers', () => {
    expect(PUMP_MODE_CODES).toEqual({ plan: 0, override: 1, failsafe: 2, stopped: 3, recovering: 4 });
  });
});

describe('on/off pumps', () => {
  const onOff = { minimum: 0, maximum: 1, maxRatePerSecond: 1, failsafeSetpoint: 0, stopSetpoint: 0, onOff: true };

  it('rounds plan values to 0 or 1', () => {
    expect(selectSource(plan(0.5), onOff).value).toBe(1);
    expect(selectSource(plan(0.49), onOff).value).toBe(0);
    expect(selectSource(plan(7), onOff).value).toBe(1);
  });

  it('switches at once when recovering', () => {
    const output = computePumpOutput({ planValue: 1, stopState: 'recovering', limits: onOff, previousSetpoint: 0, elapsedSeconds: 0.1 });
    expect(output.setpoint).toBe(1);
    expect(output.ramping).toBe(false);
  });
});

describe('rateLimitSeconds', () => {
  it('credits a resting pump one ramp tick', () => {
    expect(rateLimitSeconds(0.9, false, 0.1)).toBe(0.1);
  });

  it('credits a ramping pump the whole gap', () => {
    expect(rateLimitSeconds(0.25, true, 0.1)).toBe(0.25);
  });

  it('credits a short gap as it is', () => {
    expect(rateLimitSeconds(0.04, false, 0.1)).toBe(0.04);
  });

  it('credits nothing for a clock step back', () => {
    expect(rateLimitSeconds(-2, true, 0.1)).toBe(0);
  });
});
