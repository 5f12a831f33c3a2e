import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import { ManualStation, startPgliteStation, type PgliteStation } from './manual-station.js';

const STATIONS = applyStationDefaults(
  parseConfigText(
    `stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: p1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 5, failsafe_setpoint: 22, stop_setpoint: 10 }
`,
    'test',
  ).stations,
);

const ORIGIN = { source: 'rest', actor: 'alice', actorRole: 'engineer', sourceAddress: null, reason: 'rate test', operator: null } as const;

// A pump that rested at its target since the last heartbeat must not spend that idle time on one
// step: a Modbus client polling every 100 ms would see the whole change at once.
describe('rate limit after rest', () => {
  let fixture: PgliteStation;
  let station: ManualStation;

  beforeAll(async () => {
    fixture = await startPgliteStation(STATIONS[0]!, { pumpId: 'p1', value: 40 });
    station = fixture.station;
    await station.settle(10);
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 40 });
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it('limits the first step to one ramp tick', async () => {
    // 0.9 s pass after the last evaluation before the override arrives.
    station.wallMs += 900;
    station.monotonicMs += 900;
    await station.actor.setOverride('p1', { value: 30, expiresAt: new Date(station.wallMs + 3_600_000) }, ORIGIN);
    const first = station.actor.getSnapshot().pumps[0]!;
    expect(first.mode).toBe('override');
    // 5 Hz/s over one 100 ms tick, not over the 0.9 s of rest.
    expect(first.setpoint).toBeCloseTo(39.5, 6);
  });

  it('ramps at the full rate once moving', async () => {
    station.monotonicMs += 100;
    station.actor.tick();
    expect(station.actor.getSnapshot().pumps[0]!.setpoint).toBeCloseTo(39, 6);
    station.monotonicMs += 1000;
    station.actor.tick();
    expect(station.actor.getSnapshot().pumps[0]!.setpoint).toBeCloseTo(34, 6);
  });
});
