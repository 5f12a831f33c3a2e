import { PUMP_MODE_CODES } from '../station/pipeline.js';
import type { StationSnapshot } from '../station/snapshot.js';
import { quantizeWithinLimits, type DataType } from './register-codec.js';
import type { RegisterMapEntry, RegisterValue } from './register-map.js';

/**
 * The holding-register map of one station, as SCADA reads it. Addresses are wire (PDU) addresses,
 * so wire address 0 is holding register 40001 in Modicon notation. Each float32 occupies two
 * registers in ABCD order: the high word first and big-endian bytes within each word.
 * SCADA scripts and the register documentation depend on these numbers, so change them only
 * together with both.
 */

/** Modicon reference of wire address 0 in the holding-register table. */
export const HOLDING_REGISTER_REFERENCE_BASE = 40001;

export const STATUS_WORD_ADDRESS = 0;
export const HEARTBEAT_ADDRESS = 1;
export const PUMP_COUNT_ADDRESS = 2;
/** Addresses 3 to 9 are reserved and read as 0. */
export const FIRST_PUMP_BLOCK_ADDRESS = 10;
export const PUMP_BLOCK_SIZE = 10;

/** Register offsets within a pump block. Offsets 8 and 9 are reserved and read as 0. */
export const PUMP_REGISTER_OFFSETS = {
  /** Effective setpoint, float32 over two registers. */
  setpoint: 0,
  /** Mode code from PUMP_MODE_CODES. */
  modeCode: 2,
  /** Minimum setpoint, float32 over two registers. */
  minimum: 3,
  /** Maximum setpoint, float32 over two registers. */
  maximum: 5,
  /** Setpoint × 10 rounded to int16, for SCADA that cannot decode float32. */
  setpointTimesTen: 7,
} as const;

/** Bit masks of the status word. Bits 5 to 15 are reserved and read as 0. */
export const STATUS_BITS = {
  emergencyStopActive: 1 << 0,
  recovering: 1 << 1,
  failsafeActive: 1 << 2,
  planStale: 1 << 3,
  databaseUnreachable: 1 << 4,
} as const;

/** Wire address of the only coil: 1 while the station's emergency stop is active. */
export const EMERGENCY_STOP_COIL_ADDRESS = 0;

/** The largest pump count whose last block still fits the 65,536-register address space. */
export const MAX_PUMPS = Math.floor((0x10000 - FIRST_PUMP_BLOCK_ADDRESS) / PUMP_BLOCK_SIZE);

const INT16_MIN = -32768;
const INT16_MAX = 32767;

/** Returns the wire address of pump `pumpNumber`'s block, counting pumps from 1. */
export function pumpBlockAddress(pumpNumber: number): number {
  return FIRST_PUMP_BLOCK_ADDRESS + PUMP_BLOCK_SIZE * (pumpNumber - 1);
}

export function stationRegisterCount(pumpCount: number): number {
  return FIRST_PUMP_BLOCK_ADDRESS + PUMP_BLOCK_SIZE * pumpCount;
}

/**
 * Converts a setpoint to the int16 register value: setpoint × 10, rounded by Math.round (halves
 * toward +∞) and saturated to −32768..32767. A non-finite setpoint becomes 0 because int16 has
 * no NaN. The setpoint pipeline never publishes one.
 */
export function setpointTimesTen(setpoint: number): number {
  const scaled = Math.round(setpoint * 10);
  if (Number.isNaN(scaled)) return 0;
  return Math.min(INT16_MAX, Math.max(INT16_MIN, scaled));
}

export function encodeStatusWord(snapshot: StationSnapshot): number {
  let word = 0;
  if (snapshot.emergencyStopActive) word |= STATUS_BITS.emergencyStopActive;
  if (snapshot.recovering) word |= STATUS_BITS.recovering;
  if (snapshot.failsafeActive) word |= STATUS_BITS.failsafeActive;
  if (snapshot.planStale) word |= STATUS_BITS.planStale;
  if (snapshot.databaseUnreachable) word |= STATUS_BITS.databaseUnreachable;
  return word;
}

/**
 * Encodes a station snapshot into its holding registers, as big-endian bytes ready to copy into
 * a read response. Throws RangeError when the station has more than MAX_PUMPS pumps.
 */
export function encodeStationRegisters(snapshot: StationSnapshot): Buffer {
  const pumpCount = snapshot.pumps.length;
  if (pumpCount > MAX_PUMPS) {
    throw new RangeError(
      `station ${snapshot.stationId} has ${pumpCount} pumps, but the Modbus register map fits at most ${MAX_PUMPS}`,
    );
  }

  // Buffer.alloc zero-fills, which gives every reserved register its documented value of 0.
  const registers = Buffer.alloc(stationRegisterCount(pumpCount) * 2);
  registers.writeUInt16BE(encodeStatusWord(snapshot), STATUS_WORD_ADDRESS * 2);
  // The heartbeat wraps from 65535 to 0, so masking keeps an out-of-range counter on that cycle.
  registers.writeUInt16BE(snapshot.heartbeat & 0xffff, HEARTBEAT_ADDRESS * 2);
  registers.writeUInt16BE(pumpCount, PUMP_COUNT_ADDRESS * 2);

  snapshot.pumps.forEach((pump, index) => {
    const blockOffset = pumpBlockAddress(index + 1) * 2;
    registers.writeFloatBE(pump.setpoint, blockOffset + PUMP_REGISTER_OFFSETS.setpoint * 2);
    registers.writeUInt16BE(PUMP_MODE_CODES[pump.mode], blockOffset + PUMP_REGISTER_OFFSETS.modeCode * 2);
    registers.writeFloatBE(pump.minimum, blockOffset + PUMP_REGISTER_OFFSETS.minimum * 2);
    registers.writeFloatBE(pump.maximum, blockOffset + PUMP_REGISTER_OFFSETS.maximum * 2);
    const insideLimits = quantizeWithinLimits(pump.setpoint, pump.minimum, pump.maximum, 10, 0);
    registers.writeInt16BE(setpointTimesTen(insideLimits), blockOffset + PUMP_REGISTER_OFFSETS.setpointTimesTen * 2);
  });

  return registers;
}

/** Wire address of the discrete input that mirrors the emergency-stop coil, read-only. */
export const EMERGENCY_STOP_DISCRETE_INPUT_ADDRESS = 0;

/**
 * Lists the default layout as register map entries: the holding registers above, mirrored as
 * input registers, coil 1 (writable only where the station allows a stop from Modbus) and
 * discrete input 1 mirroring it. Encoding these entries gives the same bytes as
 * encodeStationRegisters.
 */
export function defaultLayoutEntries(pumpIds: readonly string[], allowEmergencyStopCoil: boolean): RegisterMapEntry[] {
  if (pumpIds.length > MAX_PUMPS) {
    throw new RangeError(`the default Modbus layout fits at most ${MAX_PUMPS} pumps, got ${pumpIds.length}`);
  }
  const entries: RegisterMapEntry[] = [];
  for (const table of ['holding', 'input'] as const) {
    const add = (address: number, value: RegisterValue, type: DataType, pumpIndex: number | null = null, scale = 1): void => {
      const pumpLabel = pumpIndex === null ? '' : ` pump ${pumpIndex + 1}`;
      entries.push({
        label: `default layout ${table} register ${address}${pumpLabel} ${value}`,
        table,
        address,
        type,
        order: 'ABCD',
        scale,
        offset: 0,
        writable: false,
        value,
        pumpIndex,
        pumpId: pumpIndex === null ? null : (pumpIds[pumpIndex] ?? null),
      });
    };

    add(STATUS_WORD_ADDRESS, 'status_word', 'uint16');
    add(HEARTBEAT_ADDRESS, 'heartbeat', 'uint16');
    add(PUMP_COUNT_ADDRESS, 'pump_count', 'uint16');
    for (let address = PUMP_COUNT_ADDRESS + 1; address < FIRST_PUMP_BLOCK_ADDRESS; address += 1) add(address, 'reserved', 'uint16');

    pumpIds.forEach((_pumpId, pumpIndex) => {
      const block = pumpBlockAddress(pumpIndex + 1);
      add(block + PUMP_REGISTER_OFFSETS.setpoint, 'setpoint', 'float32', pumpIndex);
      add(block + PUMP_REGISTER_OFFSETS.modeCode, 'mode', 'uint16', pumpIndex);
      add(block + PUMP_REGISTER_OFFSETS.minimum, 'minimum', 'float32', pumpIndex);
      add(block + PUMP_REGISTER_OFFSETS.maximum, 'maximum', 'float32', pumpIndex);
      add(block + PUMP_REGISTER_OFFSETS.setpointTimesTen, 'setpoint', 'int16', pumpIndex, 10);
      for (let offset = PUMP_REGISTER_OFFSETS.setpointTimesTen + 1; offset < PUMP_BLOCK_SIZE; offset += 1) add(block + offset, 'reserved', 'uint16');
    });
  }

  const bit = (table: 'coil' | 'discrete_input', address: number, writable: boolean): RegisterMapEntry => ({
    label: `default layout ${table} ${address} emergency_stop`,
    table,
    address,
    type: null,
    order: 'ABCD',
    scale: 1,
    offset: 0,
    writable,
    value: 'emergency_stop',
    pumpIndex: null,
    pumpId: null,
  });
  entries.push(bit('coil', EMERGENCY_STOP_COIL_ADDRESS, allowEmergencyStopCoil));
  entries.push(bit('discrete_input', EMERGENCY_STOP_DISCRETE_INPUT_ADDRESS, false));
  return entries;
}
