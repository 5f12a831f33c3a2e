import { registerEntrySchema, checkRegisterMap, registerMapDefinition, type MappedStation } from '../../src/modbus/register-map-config.js';
import { RegisterImage } from '../../src/modbus/register-image.js';
import { makePump, makeStation } from './station-fixture.js';
import type { StationSnapshot } from '../../src/station/snapshot.js';

/** Parses register entries as the configuration would, filling in the defaults. */
export function registers(entries: unknown[]): MappedStation['register_map'] {
  return { default_layout: false, registers: entries.map((entry) => registerEntrySchema.parse(entry)) };
}

/**
 * Unit 5 with a configured map and no default layout. Pump p1 publishes 42.5 in [0, 50], pump p2
 * 12.25 in [0, 100]. The feedback registers start at 0.
 *
 * holding 0-1 p1 setpoint float32 ABCD, 2 p1 setpoint int16 ×10, 10-11 p1 measured_speed float32
 * CDAB (writable), 12 p1 measured_flow uint16 ×10 (writable), 13-14 level int32 BADC ×100
 * (writable), 20 p2 measured_speed int16 DCBA (writable); input 0 status word, 1 heartbeat;
 * coil 0 emergency stop (writable), 1 p1 running, 2 p2 running; discrete inputs 0 emergency
 * stop, 1 failsafe active, 2 plan stale.
 */
export const MAPPED_STATION: MappedStation = {
  id: 'mapped-station',
  allow_modbus_emergency_stop: true,
  pumps: [
    { id: 'p1', minimum: 0, maximum: 50 },
    { id: 'p2', minimum: 0, maximum: 100 },
  ],
  register_map: registers([
    { kind: 'holding', address: 0, type: 'float32', pump: 'p1', value: 'setpoint' },
    { kind: 'holding', address: 2, type: 'int16', scale: 10, pump: 'p1', value: 'setpoint' },
    { kind: 'holding', address: 10, type: 'float32', order: 'CDAB', pump: 'p1', value: 'measured_speed' },
    { kind: 'holding', address: 12, type: 'uint16', scale: 10, pump: 'p1', value: 'measured_flow' },
    { kind: 'holding', address: 13, type: 'int32', order: 'BADC', scale: 100, value: 'level' },
    { kind: 'holding', address: 20, type: 'int16', order: 'DCBA', pump: 'p2', value: 'measured_speed' },
    { kind: 'input', address: 0, type: 'uint16', value: 'status_word' },
    { kind: 'input', address: 1, type: 'uint16', value: 'heartbeat' },
    { kind: 'coil', address: 0, value: 'emergency_stop', access: 'read_write' },
    { kind: 'coil', address: 1, pump: 'p1', value: 'running' },
    { kind: 'coil', address: 2, pump: 'p2', value: 'running' },
    { kind: 'discrete_input', address: 0, value: 'emergency_stop' },
    { kind: 'discrete_input', address: 1, value: 'failsafe_active' },
    { kind: 'discrete_input', address: 2, value: 'plan_stale' },
  ]),
};

export const MAPPED_UNIT_ID = 5;

export function makeMappedSnapshot(overrides: Partial<StationSnapshot> = {}): StationSnapshot {
  return makeStation({
    unitId: MAPPED_UNIT_ID,
    stationId: MAPPED_STATION.id,
    heartbeat: 3,
    planStale: true,
    pumps: [
      makePump({ pumpId: 'p1', setpoint: 42.5, minimum: 0, maximum: 50 }),
      makePump({ pumpId: 'p2', setpoint: 12.25, minimum: 0, maximum: 100 }),
    ],
    ...overrides,
  });
}

/** Defines a station with `definition` in `image` after checking its map as the configuration does, then publishes `snapshot`. */
export function defineMappedStation(image: RegisterImage, definition: MappedStation, snapshot: StationSnapshot): void {
  const issues = checkRegisterMap(definition);
  if (issues.length > 0) throw new Error(`test map is invalid: ${issues.map((issue) => issue.message).join('; ')}`);
  image.defineStation(snapshot.unitId, { allowEmergencyStopCoil: definition.allow_modbus_emergency_stop, map: registerMapDefinition(definition) });
  image.setStation(snapshot);
}
