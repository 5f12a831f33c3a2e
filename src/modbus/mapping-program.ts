import { PUMP_MODE_CODES } from '../station/pipeline.js';
import type { StationSnapshot } from '../station/snapshot.js';
import { BYTE_ORDER_CODES, DATA_TYPE_CODES, encodeRegisterValue, quantizeWithinLimits } from './register-codec.js';
import { encodeStatusWord } from './register-layout.js';
import { FEEDBACK_VALUES, isRegisterTable, type CompiledRegisterMap, type RegisterMapEntry } from './register-map.js';

/**
 * The encoding work of one station map as flat typed arrays: for each published register value,
 * its table, byte offset, type, byte order, scale and offset. Typed arrays cost little to send to
 * a worker thread, and the same loop runs inline on the main thread.
 */
export interface MappingProgram {
  holdingByteLength: number;
  inputByteLength: number;
  /** 0 for the holding table, 1 for the input table. */
  tableCodes: Uint8Array;
  byteOffsets: Uint32Array;
  typeCodes: Uint8Array;
  orderCodes: Uint8Array;
  scales: Float64Array;
  offsets: Float64Array;
}

export const HOLDING_TABLE_CODE = 0;
export const INPUT_TABLE_CODE = 1;

/** A program and the map entries whose values fill its slots, in slot order. */
export interface StationMappingProgram {
  program: MappingProgram;
  sources: readonly RegisterMapEntry[];
}

/** Collects the published register values of a map; feedback and reserved registers are not encoded. */
export function buildMappingProgram(map: CompiledRegisterMap): StationMappingProgram {
  const sources = map.entries.filter(
    (entry) => isRegisterTable(entry.table) && entry.type !== null && entry.value !== 'reserved' && !FEEDBACK_VALUES.has(entry.value),
  );
  const program: MappingProgram = {
    holdingByteLength: map.tables.holding.extent * 2,
    inputByteLength: map.tables.input.extent * 2,
    tableCodes: new Uint8Array(sources.length),
    byteOffsets: new Uint32Array(sources.length),
    typeCodes: new Uint8Array(sources.length),
    orderCodes: new Uint8Array(sources.length),
    scales: new Float64Array(sources.length),
    offsets: new Float64Array(sources.length),
  };
  sources.forEach((entry, slot) => {
    program.tableCodes[slot] = entry.table === 'holding' ? HOLDING_TABLE_CODE : INPUT_TABLE_CODE;
    program.byteOffsets[slot] = entry.address * 2;
    program.typeCodes[slot] = DATA_TYPE_CODES[entry.type ?? 'uint16'];
    program.orderCodes[slot] = BYTE_ORDER_CODES[entry.order];
    program.scales[slot] = entry.scale;
    program.offsets[slot] = entry.offset;
  });
  return { program, sources };
}

/** Reads the engineering value of every slot from a snapshot. */
export function extractProgramValues(sources: readonly RegisterMapEntry[], snapshot: StationSnapshot): Float64Array {
  const values = new Float64Array(sources.length);
  for (let slot = 0; slot < sources.length; slot += 1) {
    const entry = sources[slot];
    if (entry) values[slot] = publishedValue(snapshot, entry);
  }
  return values;
}

/**
 * Returns the engineering value an entry publishes. A plan value without a covering plan row is
 * NaN, which float32 sends as NaN and integer types as 0. Feedback and reserved entries publish
 * nothing and return NaN.
 */
export function publishedValue(snapshot: StationSnapshot, entry: RegisterMapEntry): number {
  switch (entry.value) {
    case 'status_word':
      return encodeStatusWord(snapshot);
    case 'heartbeat':
      // The heartbeat wraps from 65535 to 0, so masking keeps an out-of-range counter on that cycle.
      return snapshot.heartbeat & 0xffff;
    case 'pump_count':
      return snapshot.pumps.length;
    case 'emergency_stop':
      return snapshot.emergencyStopActive ? 1 : 0;
    case 'recovering':
      return snapshot.recovering ? 1 : 0;
    case 'failsafe_active':
      return snapshot.failsafeActive ? 1 : 0;
    case 'plan_stale':
      return snapshot.planStale ? 1 : 0;
    case 'database_unreachable':
      return snapshot.databaseUnreachable ? 1 : 0;
    default:
      return publishedPumpValue(snapshot, entry);
  }
}

function publishedPumpValue(snapshot: StationSnapshot, entry: RegisterMapEntry): number {
  const pump = entry.pumpIndex === null ? undefined : snapshot.pumps[entry.pumpIndex];
  if (!pump) return Number.NaN;
  switch (entry.value) {
    case 'setpoint':
      return entry.type === null || entry.type === 'float32' ? pump.setpoint : quantizeWithinLimits(pump.setpoint, pump.minimum, pump.maximum, entry.scale, entry.offset);
    case 'mode':
      return PUMP_MODE_CODES[pump.mode];
    case 'minimum':
      return pump.minimum;
    case 'maximum':
      return pump.maximum;
    case 'plan_value':
      return pump.planValue ?? Number.NaN;
    default:
      return Number.NaN;
  }
}

/** Encodes every slot into the holding and input buffers, which the caller allocates zero-filled. */
export function runMappingProgram(program: MappingProgram, values: Float64Array, holding: Uint8Array, input: Uint8Array): void {
  const count = program.tableCodes.length;
  for (let slot = 0; slot < count; slot += 1) {
    const target = program.tableCodes[slot] === HOLDING_TABLE_CODE ? holding : input;
    encodeRegisterValue(
      target,
      program.byteOffsets[slot] ?? 0,
      program.typeCodes[slot] ?? 0,
      program.orderCodes[slot] ?? 0,
      values[slot] ?? Number.NaN,
      program.scales[slot] ?? 1,
      program.offsets[slot] ?? 0,
    );
  }
}
