import type { PumpSnapshot, StationSnapshot } from '../../src/station/snapshot.js';

export function makePump(overrides: Partial<PumpSnapshot> = {}): PumpSnapshot {
  return {
    pumpId: 'pump-1',
    name: null,
    controlVariable: 'speed',
    unit: 'Hz',
    setpoint: 42.5,
    mode: 'plan',
    minimum: 20,
    maximum: 50,
    planValue: 42.5,
    ...overrides,
  };
}

/** Builds an operational station on unit id 1 with one pump. Fields in `overrides` replace those defaults. */
export function makeStation(overrides: Partial<StationSnapshot> = {}): StationSnapshot {
  return {
    stationId: 'station-1',
    name: null,
    unitId: 1,
    stopState: 'operational',
    emergencyStopActive: false,
    recovering: false,
    failsafeActive: false,
    planStale: false,
    databaseUnreachable: false,
    heartbeat: 0,
    persistencePending: false,
    pumps: [makePump()],
    updatedAt: new Date('2025-01-01T00:00:00Z'),
    ...overrides,
  };
}
