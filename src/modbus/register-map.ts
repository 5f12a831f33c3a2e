import type { ByteOrder, DataType } from './register-codec.js';
import { registerWidth } from './register-codec.js';

/**
 * The register map of one station: which value sits at which address of which Modbus table, in
 * which encoding, and whether SCADA may write it. The default layout and configured maps are
 * both lists of RegisterMapEntry, compiled into lookup tables once per station.
 */

export const TABLE_KINDS = ['holding', 'input', 'coil', 'discrete_input'] as const;
export type TableKind = (typeof TABLE_KINDS)[number];

/** Values of the station as a whole. `level` (wet-well level) is feedback from SCADA. */
export const STATION_VALUES = [
  'status_word',
  'heartbeat',
  'pump_count',
  'emergency_stop',
  'recovering',
  'failsafe_active',
  'plan_stale',
  'database_unreachable',
  'level',
] as const;

/** Values of one pump. measured_speed, measured_flow and running are feedback from SCADA. */
export const PUMP_VALUES = ['setpoint', 'mode', 'minimum', 'maximum', 'plan_value', 'measured_speed', 'measured_flow', 'running'] as const;

export type StationValue = (typeof STATION_VALUES)[number];
export type PumpValue = (typeof PUMP_VALUES)[number];
/** `reserved` marks registers of the default layout that read as 0 and carry nothing. */
export type RegisterValue = StationValue | PumpValue | 'reserved';

/** Values that SCADA writes and the adapter stores in the pump_feedback table. */
export const FEEDBACK_VALUES: ReadonlySet<RegisterValue> = new Set(['measured_speed', 'measured_flow', 'running', 'level']);

/** Values that are 0 or 1, so they fit a coil or discrete input as well as a register. */
export const BIT_VALUES: ReadonlySet<RegisterValue> = new Set([
  'emergency_stop',
  'recovering',
  'failsafe_active',
  'plan_stale',
  'database_unreachable',
  'running',
]);

export function isPumpValue(value: RegisterValue): value is PumpValue {
  return (PUMP_VALUES as readonly string[]).includes(value);
}

export function isRegisterTable(table: TableKind): table is 'holding' | 'input' {
  return table === 'holding' || table === 'input';
}

export interface RegisterMapEntry {
  /** Origin of the entry, such as `register_map.registers[3]` or `default layout pump 1 setpoint`, for messages. */
  label: string;
  table: TableKind;
  /** Wire (PDU) address of the first register or bit. */
  address: number;
  /** Encoding of a register value; null for coils and discrete inputs. */
  type: DataType | null;
  order: ByteOrder;
  scale: number;
  offset: number;
  writable: boolean;
  value: RegisterValue;
  /** Index of the pump in the station's pump list (the snapshot's order), or null for a station value. */
  pumpIndex: number | null;
  pumpId: string | null;
}

/** Number of addresses an entry occupies in its table. */
export function entryWidth(entry: Pick<RegisterMapEntry, 'type'>): number {
  return entry.type === null ? 1 : registerWidth(entry.type);
}

export interface CompiledTable {
  /** Highest mapped address + 1, so the table's buffer covers addresses 0 to extent − 1. */
  extent: number;
  /**
   * For each address, the exclusive end of the run of mapped addresses that contains it, or 0 when
   * the address is unmapped. A range [a, a + n) is mapped exactly when runEnd[a] ≥ a + n.
   */
  runEnd: Uint32Array;
  /** The entry covering each mapped address. */
  entryAt: ReadonlyMap<number, RegisterMapEntry>;
}

export interface CompiledRegisterMap {
  entries: readonly RegisterMapEntry[];
  tables: Record<TableKind, CompiledTable>;
}

/**
 * Builds the lookup tables of a map. Throws RangeError when an entry runs past address 65535 or
 * two entries share an address. Configuration validation reports both earlier, with the station
 * and key, so this only guards against maps built in code.
 */
export function compileRegisterMap(entries: readonly RegisterMapEntry[]): CompiledRegisterMap {
  const entryMaps: Record<TableKind, Map<number, RegisterMapEntry>> = {
    holding: new Map(),
    input: new Map(),
    coil: new Map(),
    discrete_input: new Map(),
  };

  for (const entry of entries) {
    const width = entryWidth(entry);
    if (!Number.isInteger(entry.address) || entry.address < 0 || entry.address + width > 0x10000) {
      throw new RangeError(`${entry.label}: address ${entry.address} with ${width} register(s) does not fit addresses 0 to 65535`);
    }
    const entryAt = entryMaps[entry.table];
    for (let address = entry.address; address < entry.address + width; address += 1) {
      const other = entryAt.get(address);
      if (other) throw new RangeError(`${entry.label} overlaps ${other.label} at ${entry.table} address ${address}`);
      entryAt.set(address, entry);
    }
  }

  return {
    entries,
    tables: {
      holding: compileTable(entryMaps.holding),
      input: compileTable(entryMaps.input),
      coil: compileTable(entryMaps.coil),
      discrete_input: compileTable(entryMaps.discrete_input),
    },
  };
}

function compileTable(entryAt: Map<number, RegisterMapEntry>): CompiledTable {
  const extent = entryAt.size === 0 ? 0 : Math.max(...entryAt.keys()) + 1;
  const runEnd = new Uint32Array(extent);
  // Walking down from the top gives each mapped address the end of its run in one pass.
  let end = 0;
  for (let address = extent - 1; address >= 0; address -= 1) {
    if (!entryAt.has(address)) {
      end = 0;
      continue;
    }
    if (end === 0) end = address + 1;
    runEnd[address] = end;
  }
  return { extent, runEnd, entryAt };
}

/** Returns whether every address of [address, address + count) is mapped in the table. */
export function isRangeMapped(table: CompiledTable, address: number, count: number): boolean {
  return address < table.extent && (table.runEnd[address] ?? 0) >= address + count;
}
