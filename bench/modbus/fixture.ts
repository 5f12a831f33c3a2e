import { encodeStationRegisters, stationRegisterCount } from '../../src/modbus/register-layout.js';
import type { StationSnapshot } from '../../src/station/snapshot.js';
import { makePump, makeStation } from '../../test/modbus/station-fixture.js';

/** Unit id of the one station that both benchmark servers serve. */
export const BENCH_UNIT_ID = 1;

/** 12 pumps give 10 + 12 × 10 = 130 registers, enough for the largest FC3 read of 125. */
export const BENCH_PUMP_COUNT = 12;

/** Register counts per request that the benchmark measures: the status block and the FC3 maximum. */
export const BENCH_REGISTER_COUNTS = [10, 125] as const;

export type BenchRegisterCount = (typeof BENCH_REGISTER_COUNTS)[number];

const READ_HOLDING_REGISTERS = 0x03;
const MBAP_HEADER_LENGTH = 7;

/** One FC3 request with transaction id 0, and the response that every correct server sends to it. */
export interface PreparedExchange {
  registerCount: BenchRegisterCount;
  request: Buffer;
  response: Buffer;
}

/** Builds an operational station whose pumps have distinct setpoints, so no two pump blocks are equal. */
export function makeBenchStation(): StationSnapshot {
  const pumps = Array.from({ length: BENCH_PUMP_COUNT }, (_, index) =>
    makePump({ pumpId: `pump-${index + 1}`, setpoint: 20 + 2.5 * index, planValue: 20 + 2.5 * index }),
  );
  return makeStation({ unitId: BENCH_UNIT_ID, stationId: 'bench-station', heartbeat: 7, pumps });
}

/**
 * Builds the FC3 request for `registerCount` registers from wire address 0 and its response.
 * The MBAP header and PDU are written here by hand, so that a framing difference in the adapter
 * shows up as a mismatch instead of being copied into the raw server's response.
 */
export function prepareExchange(registerCount: BenchRegisterCount): PreparedExchange {
  const station = makeBenchStation();
  if (stationRegisterCount(station.pumps.length) < registerCount) {
    throw new RangeError(`the benchmark station has ${stationRegisterCount(station.pumps.length)} registers, fewer than ${registerCount}`);
  }

  const request = Buffer.alloc(12);
  request.writeUInt16BE(0, 0); // transaction id, set per request by the client
  request.writeUInt16BE(0, 2); // protocol id
  request.writeUInt16BE(6, 4); // unit id + function code + address + quantity
  request.writeUInt8(BENCH_UNIT_ID, 6);
  request.writeUInt8(READ_HOLDING_REGISTERS, 7);
  request.writeUInt16BE(0, 8);
  request.writeUInt16BE(registerCount, 10);

  const registers = encodeStationRegisters(station).subarray(0, registerCount * 2);
  const response = Buffer.alloc(MBAP_HEADER_LENGTH + 2 + registers.length);
  response.writeUInt16BE(0, 0);
  response.writeUInt16BE(0, 2);
  response.writeUInt16BE(3 + registers.length, 4); // unit id + function code + byte count + data
  response.writeUInt8(BENCH_UNIT_ID, 6);
  response.writeUInt8(READ_HOLDING_REGISTERS, 7);
  response.writeUInt8(registers.length, 8);
  registers.copy(response, 9);

  return { registerCount, request, response };
}
