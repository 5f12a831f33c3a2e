import { describe, expect, it } from 'vitest';
import { AlertEvents, type AlertEvent } from '../../src/station/alert-events.js';
import { EpisodeTracker } from '../../src/station/episodes.js';
import { evaluatePumpEpisodeConditions } from '../../src/station/episode-conditions.js';
import { evaluateWatchdog, evaluateWatchdogConditions, type WatchdogInput } from '../../src/station/watchdog.js';
import { validateOverride } from '../../src/station/override-rules.js';
import { isAdapterError } from '../../src/errors.js';

describe('EpisodeTracker', () => {
  it('reports start and end once', () => {
    const tracker = new EpisodeTracker<{ requested: number }>();
    expect(tracker.update('clamp:p1', true, { requested: 70 })).toEqual({ change: 'started', details: { requested: 70 } });
    expect(tracker.update('clamp:p1', true, { requested: 80 })).toBeNull();
    expect(tracker.isOpen('clamp:p1')).toBe(true);
    expect(tracker.update('clamp:p1', false, { requested: 0 })).toEqual({ change: 'ended', details: { requested: 70 } });
    expect(tracker.update('clamp:p1', false, { requested: 0 })).toBeNull();
  });

  it('keeps keys apart', () => {
    const tracker = new EpisodeTracker<null>();
    tracker.update('clamp:p1', true, null);
    expect(tracker.update('clamp:p2', true, null)?.change).toBe('started');
  });

  it('continues restored episodes', () => {
    const tracker = new EpisodeTracker<{ requested: number }>();
    tracker.update('clamp:p2', true, { requested: 1 });
    tracker.restore(new Map([['clamp:p1', { requested: 70 }]]));
    expect(tracker.isOpen('clamp:p2')).toBe(false);
    expect(tracker.update('clamp:p1', true, { requested: 80 })).toBeNull();
    expect(tracker.update('clamp:p1', false, { requested: 0 })).toEqual({ change: 'ended', details: { requested: 70 } });
  });
});

describe('evaluatePumpEpisodeConditions', () => {
  const limits = { minimum: 10, maximum: 50, maxRatePerSecond: 1, failsafeSetpoint: 20, stopSetpoint: 10 };

  it.each([
    ['plan within limits', 30, null, { planMissing: false, clamped: false, requestedValue: null }],
    ['plan above maximum', 70, null, { planMissing: false, clamped: true, requestedValue: 70 }],
    ['no plan', null, null, { planMissing: true, clamped: false, requestedValue: null }],
    ['non-finite plan', Number.NaN, null, { planMissing: true, clamped: false, requestedValue: null }],
    ['override without plan', null, 40, { planMissing: false, clamped: false, requestedValue: null }],
    ['override over clamped plan', 70, 40, { planMissing: false, clamped: false, requestedValue: null }],
  ] as const)('%s', (_label, planValue, overrideValue, expected) => {
    expect(evaluatePumpEpisodeConditions({ planValue, overrideValue }, limits)).toEqual(expected);
  });
});

describe('AlertEvents', () => {
  const event: AlertEvent = { type: 'SETPOINT_CLAMPED', severity: 'MEDIUM', stationId: 's1', pumpId: 'p1', message: 'clamped', details: {}, occurredAt: new Date(0) };

  it('runs later listeners after one throws', () => {
    const alerts = new AlertEvents();
    const received: string[] = [];
    alerts.subscribe(() => {
      throw new Error('channel bug');
    });
    alerts.subscribe((each) => received.push(each.type));
    expect(() => alerts.raise(event)).not.toThrow();
    expect(received).toEqual(['SETPOINT_CLAMPED']);
  });

  it('stops after unsubscribe', () => {
    const alerts = new AlertEvents();
    let count = 0;
    const unsubscribe = alerts.subscribe(() => (count += 1));
    alerts.raise(event);
    unsubscribe();
    alerts.raise(event);
    expect(count).toBe(1);
  });
});

describe('evaluateWatchdog', () => {
  const base: WatchdogInput = {
    monotonicMs: 100_000,
    databaseUnreachable: false,
    lastDatabaseContactMs: 100_000,
    databaseGraceMs: 30_000,
    wallMs: Date.UTC(2030, 0, 1),
    lastPlanWriteMs: Date.UTC(2030, 0, 1),
    planStalenessMs: 600_000,
  };

  it.each([
    ['reachable database', {}, null],
    ['outage within grace', { databaseUnreachable: true, lastDatabaseContactMs: 70_000 }, null],
    ['outage past grace', { databaseUnreachable: true, lastDatabaseContactMs: 69_999 }, 'database_unreachable'],
    ['old contact but reachable', { lastDatabaseContactMs: 0 }, null],
    ['fresh plan', { lastPlanWriteMs: Date.UTC(2030, 0, 1) - 600_000 }, null],
    ['stale plan', { lastPlanWriteMs: Date.UTC(2030, 0, 1) - 600_001 }, 'plan_stale'],
    ['staleness check off', { lastPlanWriteMs: 0, planStalenessMs: 0 }, null],
    ['no plan ever', { lastPlanWriteMs: null }, null],
    ['outage beats staleness', { databaseUnreachable: true, lastDatabaseContactMs: 0, lastPlanWriteMs: 0 }, 'database_unreachable'],
  ] as const)('%s', (_label, change, expected) => {
    expect(evaluateWatchdog({ ...base, ...change })).toBe(expected);
  });

  it('reports both causes apart', () => {
    const conditions = evaluateWatchdogConditions({ ...base, databaseUnreachable: true, lastDatabaseContactMs: 0, lastPlanWriteMs: 0 });
    expect(conditions).toEqual({ databaseUnreachable: true, planStale: true });
  });
});

describe('validateOverride', () => {
  const limits = { minimum: 10, maximum: 50, maxRatePerSecond: 1, failsafeSetpoint: 20, stopSetpoint: 10 };
  const now = new Date(Date.UTC(2030, 0, 1));
  const check = (value: number, expiresInMs: number, onOff = false) =>
    validateOverride({ stationId: 's1', pumpId: 'p1', limits: { ...limits, onOff }, request: { value, expiresAt: new Date(now.getTime() + expiresInMs) }, now, maxOverrideMs: 3_600_000 });

  function codeOf(run: () => void): string | null {
    try {
      run();
      return null;
    } catch (error) {
      return isAdapterError(error) ? error.code : 'not an AdapterError';
    }
  }

  it.each([
    ['value within limits', 30, 60_000, null],
    ['value at minimum', 10, 60_000, null],
    ['value above maximum', 50.5, 60_000, 'SETPOINT_OUT_OF_RANGE'],
    ['value below minimum', 9, 60_000, 'SETPOINT_OUT_OF_RANGE'],
    ['NaN value', Number.NaN, 60_000, 'SETPOINT_OUT_OF_RANGE'],
    ['expiry now', 30, 0, 'VALIDATION_FAILED'],
    ['expiry past maximum', 30, 3_600_001, 'VALIDATION_FAILED'],
    ['invalid expiry', 30, Number.NaN, 'VALIDATION_FAILED'],
  ])('%s', (_label, value, expiresInMs, expected) => {
    expect(codeOf(() => check(value, expiresInMs))).toBe(expected);
  });

  it('names the limits', () => {
    expect(() => check(60, 60_000)).toThrow('[10, 50]');
  });
});
