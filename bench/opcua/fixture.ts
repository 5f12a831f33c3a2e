import type { AdapterConfig } from '../../src/config/load.js';

/** Stations and pumps of the adapter under test: 10 stations of 16 pumps, the schema's maximum. */
export const STATION_COUNT = 10;
export const PUMPS_PER_STATION = 16;

/**
 * Number of value variables the adapter creates, without the EURange, EngineeringUnits and method
 * argument properties. A station has 9 published variables, Name, UnitId and WetWellLevel. A pump
 * has 6 published variables, Name, ControlVariable and 3 feedback variables. The bare server gets
 * this many Double variables.
 */
export const VARIABLE_COUNT = STATION_COUNT * 12 + STATION_COUNT * PUMPS_PER_STATION * 11;

/** Variables of each pump that change with station snapshots, monitored in the subscription case. */
const PUMP_VARIABLES = ['EffectiveSetpoint', 'Mode', 'ModeCode', 'Minimum', 'Maximum', 'PlanValue'];
const STATION_VARIABLES = ['StatusWord', 'EmergencyStopActive', 'EmergencyStopState', 'Heartbeat', 'Recovering', 'FailsafeActive', 'PlanStale', 'DatabaseUnreachable', 'PersistencePending'];

export type BenchTarget = 'adapter' | 'bare';
export const BENCH_TARGETS: readonly BenchTarget[] = ['adapter', 'bare'];

export function isBenchTarget(value: unknown): value is BenchTarget {
  return value === 'adapter' || value === 'bare';
}

export function benchStations(): AdapterConfig['stations'] {
  return Array.from({ length: STATION_COUNT }, (_, stationIndex) => ({
    id: `station${String(stationIndex + 1).padStart(3, '0')}`,
    unit_id: stationIndex + 1,
    allow_modbus_emergency_stop: false,
    pumps: Array.from({ length: PUMPS_PER_STATION }, (_, pumpIndex) => ({
      id: `pump${pumpIndex + 1}`,
      control_variable: 'speed' as const,
      unit: 'Hz',
      minimum: 10,
      maximum: 50,
      max_rate_per_second: 1,
      failsafe_setpoint: 25,
      stop_setpoint: 10,
    })),
  }));
}

/** Node ids of `count` variables that the benchmark reads and monitors, the same count on both servers. */
export function benchNodeIds(target: BenchTarget, count: number): string[] {
  if (target === 'bare') return Array.from({ length: count }, (_, index) => `ns=1;s=v${index}`);

  const nodeIds: string[] = [];
  for (const station of benchStations()) {
    for (const pump of station.pumps) {
      for (const name of PUMP_VARIABLES) nodeIds.push(`ns=1;s=${station.id}.${pump.id}.${name}`);
    }
    for (const name of STATION_VARIABLES) nodeIds.push(`ns=1;s=${station.id}.${name}`);
  }
  if (nodeIds.length < count) throw new RangeError(`the adapter fixture has ${nodeIds.length} published variables, fewer than the ${count} requested`);
  return nodeIds.slice(0, count);
}
