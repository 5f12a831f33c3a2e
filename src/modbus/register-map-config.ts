import { z } from 'zod';
import { BYTE_ORDERS, DATA_TYPES, INTEGER_RANGES, registerWidth } from './register-codec.js';
import { MAX_PUMPS, stationRegisterCount } from './register-layout.js';
import type { StationMapDefinition } from './register-image.js';
import {
  BIT_VALUES,
  FEEDBACK_VALUES,
  isPumpValue,
  isRegisterTable,
  PUMP_VALUES,
  STATION_VALUES,
  TABLE_KINDS,
  type RegisterMapEntry,
  type RegisterValue,
  type TableKind,
} from './register-map.js';

/**
 * The `register_map` key of a station in the YAML configuration, and the checks that need the
 * station's pumps. Every message names the station and the register, because a map has dozens of
 * entries that look alike.
 */

const finite = z.number().finite();

export const registerEntrySchema = z
  .object({
    /** Free text for messages and the documentation of a site's map. */
    name: z.string().min(1).max(64).optional(),
    kind: z.enum(TABLE_KINDS),
    /** Wire (PDU) address, from 0: holding register 40001 is address 0. */
    address: z.number().int().min(0).max(65535),
    /** Required for holding and input registers; coils and discrete inputs carry one bit. */
    type: z.enum(DATA_TYPES).optional(),
    order: z.enum(BYTE_ORDERS).default('ABCD'),
    /** Register value = engineering value × scale + offset. */
    scale: finite.refine((scale) => scale !== 0, 'scale must not be 0; use 1 for no scaling').default(1),
    offset: finite.default(0),
    /** Defaults to read_write for feedback values and read_only for everything else. */
    access: z.enum(['read_only', 'read_write']).optional(),
    /** Pump id, required for pump values and not allowed for station values. */
    pump: z.string().min(1).optional(),
    value: z.enum([...STATION_VALUES, ...PUMP_VALUES]),
  })
  .strict();

export const registerMapSchema = z
  .object({
    /** Whether the default layout (status block at 40001, pump blocks, coil 1) stays in the map. */
    default_layout: z.boolean().default(true),
    registers: z.array(registerEntrySchema).max(20_000, 'at most 20000 registers per station').default([]),
  })
  .strict();

export type RegisterEntryConfig = z.infer<typeof registerEntrySchema>;
export type RegisterMapConfig = z.infer<typeof registerMapSchema>;

/** The parts of a station the map checks need. */
export interface MappedStation {
  id: string;
  allow_modbus_emergency_stop: boolean;
  pumps: ReadonlyArray<{ id: string; minimum: number; maximum: number }>;
  register_map?: RegisterMapConfig | undefined;
}

export interface RegisterMapIssue {
  /** Path below the station, such as ['register_map', 'registers', 3, 'type']. */
  path: (string | number)[];
  message: string;
}

/** Returns every problem of a station's register map; an empty list means the map is valid. */
export function checkRegisterMap(station: MappedStation): RegisterMapIssue[] {
  const map = station.register_map;
  if (!map) return [];
  const issues: RegisterMapIssue[] = [];
  const pumpIds = station.pumps.map((pump) => pump.id);
  if (map.default_layout && pumpIds.length > MAX_PUMPS) {
    issues.push({ path: ['register_map', 'default_layout'], message: `station "${station.id}": the default layout fits at most ${MAX_PUMPS} pumps` });
  }

  const occupied = new Map<string, string>();
  if (map.default_layout) {
    const defaultLabel = 'the default layout';
    const registerCount = stationRegisterCount(pumpIds.length);
    for (let address = 0; address < registerCount; address += 1) {
      occupied.set(key('holding', address), defaultLabel);
      occupied.set(key('input', address), defaultLabel);
    }
    occupied.set(key('coil', 0), defaultLabel);
    occupied.set(key('discrete_input', 0), defaultLabel);
  }

  const feedbackTargets = new Map<string, string>();
  map.registers.forEach((register, index) => {
    const label = describeRegister(station.id, register, index);
    const at = (field: string): (string | number)[] => ['register_map', 'registers', index, field];
    const add = (field: string, message: string): void => void issues.push({ path: at(field), message: `${label}: ${message}` });

    const entryIssueCount = issues.length;
    checkTarget(station, register, add);
    checkEncoding(station, register, add);
    checkAccess(station, register, add);
    if (issues.length > entryIssueCount) return;

    const width = register.type ? registerWidth(register.type) : 1;
    if (register.address + width > 0x10000) {
      add('address', `a ${register.type ?? 'bit'} at address ${register.address} needs ${width} registers and runs past address 65535`);
      return;
    }
    for (let address = register.address; address < register.address + width; address += 1) {
      const other = occupied.get(key(register.kind, address));
      if (other) {
        add('address', `${register.kind} address ${address} is already used by ${other}; move one of them`);
        return;
      }
      occupied.set(key(register.kind, address), `registers[${index}]${register.name ? ` "${register.name}"` : ''}`);
    }

    if (FEEDBACK_VALUES.has(register.value)) {
      const target = `${register.pump ?? ''}/${register.value}`;
      const other = feedbackTargets.get(target);
      if (other) add('value', `${register.value}${register.pump ? ` of pump "${register.pump}"` : ''} is already written through ${other}; give each feedback value one register`);
      else feedbackTargets.set(target, `registers[${index}]`);
    }
  });
  return issues;
}

function checkTarget(station: MappedStation, register: RegisterEntryConfig, add: (field: string, message: string) => void): void {
  if (isPumpValue(register.value)) {
    if (register.pump === undefined) {
      add('pump', `value ${register.value} belongs to a pump; add pump: with one of ${station.pumps.map((pump) => pump.id).join(', ')}`);
    } else if (!station.pumps.some((pump) => pump.id === register.pump)) {
      add('pump', `unknown pump id "${register.pump}"; use one of ${station.pumps.map((pump) => pump.id).join(', ')}`);
    }
  } else if (register.pump !== undefined) {
    add('pump', `value ${register.value} belongs to the station, not to a pump; remove pump: "${register.pump}"`);
  }
}

/** Largest finite float32 value. */
const FLOAT32_MAX = 3.4028234663852886e38;

function checkEncoding(station: MappedStation, register: RegisterEntryConfig, add: (field: string, message: string) => void): void {
  if (!isRegisterTable(register.kind)) {
    if (register.type !== undefined) add('type', `a ${register.kind} carries one bit; remove type: ${register.type}`);
    if (!BIT_VALUES.has(register.value)) add('value', `value ${register.value} is not a bit; map it to a holding or input register`);
    return;
  }
  if (register.type === undefined) {
    add('type', `type is missing; use one of ${DATA_TYPES.join(', ')}`);
    return;
  }

  const range = engineeringRange(station, register);
  if (register.type === 'float32') {
    if (range === null) return;
    // float32 goes up to about 3.4e38; a larger scaled value would be sent as infinity.
    const scaled = [range[0] * register.scale + register.offset, range[1] * register.scale + register.offset];
    if (scaled.some((value) => !Number.isFinite(value) || Math.abs(value) > FLOAT32_MAX)) {
      add('scale', `float32 cannot hold ${register.value} over [${range[0]}, ${range[1]}] × scale ${register.scale} + offset ${register.offset}; use a smaller scale`);
    }
    return;
  }
  if (range === null) return;
  const [typeMinimum, typeMaximum] = INTEGER_RANGES[register.type];
  const ends = [range[0] * register.scale + register.offset, range[1] * register.scale + register.offset].map(Math.round);
  const low = Math.min(...ends);
  const high = Math.max(...ends);
  if (low < typeMinimum || high > typeMaximum) {
    add(
      'type',
      `${register.type} (${typeMinimum} to ${typeMaximum}) cannot hold ${register.value} over [${range[0]}, ${range[1]}] × scale ${register.scale} + offset ${register.offset}, which gives ${low} to ${high}; use a wider type or a smaller scale`,
    );
  }
}

/** Returns the engineering range an integer register must hold, or null where none is known. */
function engineeringRange(station: MappedStation, register: RegisterEntryConfig): readonly [number, number] | null {
  const pump = station.pumps.find((candidate) => candidate.id === register.pump);
  switch (register.value) {
    case 'setpoint':
    case 'minimum':
    case 'maximum':
      return pump ? [pump.minimum, pump.maximum] : null;
    case 'mode':
      return [0, 4];
    case 'status_word':
      return [0, 31];
    case 'heartbeat':
      return [0, 65535];
    case 'pump_count':
      return [0, station.pumps.length];
    default:
      // NOTE: plan values are not clamped and feedback comes from SCADA, so neither has a range to
      // check. An integer register saturates a plan value outside its range.
      return BIT_VALUES.has(register.value) ? [0, 1] : null;
  }
}

function checkAccess(station: MappedStation, register: RegisterEntryConfig, add: (field: string, message: string) => void): void {
  const feedback = FEEDBACK_VALUES.has(register.value);
  const writableTable = register.kind === 'holding' || register.kind === 'coil';
  if (feedback) {
    if (!writableTable) add('kind', `feedback value ${register.value} is written by SCADA, so it needs a holding register or a coil, not a ${register.kind}`);
    if (register.access === 'read_only') add('access', `feedback value ${register.value} is written by SCADA; remove access: read_only`);
    return;
  }
  if (register.access !== 'read_write') return;

  if (register.value === 'emergency_stop' && register.kind === 'coil') {
    if (!station.allow_modbus_emergency_stop) {
      add('access', 'an emergency-stop coil is writable only where the station sets allow_modbus_emergency_stop: true; set it or remove access: read_write');
    }
    return;
  }
  add('access', `value ${register.value} is published by the adapter and cannot be written from Modbus; remove access: read_write`);
}

/** Converts a validated register map into the entries the register image compiles. */
export function registerMapDefinition(station: MappedStation): StationMapDefinition {
  const pumpIds = station.pumps.map((pump) => pump.id);
  const map = station.register_map ?? { default_layout: true, registers: [] };
  const entries = map.registers.map((register, index): RegisterMapEntry => {
    const pumpIndex = register.pump === undefined ? null : pumpIds.indexOf(register.pump);
    return {
      label: describeRegister(station.id, register, index),
      table: register.kind,
      address: register.address,
      type: isRegisterTable(register.kind) ? (register.type ?? 'uint16') : null,
      order: register.order,
      scale: register.scale,
      offset: register.offset,
      writable: isWritable(station, register),
      value: register.value as RegisterValue,
      pumpIndex: pumpIndex === null || pumpIndex < 0 ? null : pumpIndex,
      pumpId: register.pump ?? null,
    };
  });
  return { defaultLayout: map.default_layout, pumpIds, entries };
}

function isWritable(station: MappedStation, register: RegisterEntryConfig): boolean {
  if (FEEDBACK_VALUES.has(register.value)) return true;
  if (register.value === 'emergency_stop' && register.kind === 'coil') {
    return station.allow_modbus_emergency_stop && register.access !== 'read_only';
  }
  return false;
}

function describeRegister(stationId: string, register: RegisterEntryConfig, index: number): string {
  const name = register.name ? ` "${register.name}"` : '';
  return `station "${stationId}" register ${index}${name} (${register.kind} ${register.address})`;
}

function key(table: TableKind, address: number): string {
  return `${table}:${address}`;
}
