import { describe, it, expect } from 'vitest';
import {
  encodeStationRegisters,
  FIRST_PUMP_BLOCK_ADDRESS,
  HEARTBEAT_ADDRESS,
  MAX_PUMPS,
  PUMP_COUNT_ADDRESS,
  PUMP_REGISTER_OFFSETS,
  pumpBlockAddress,
  setpointTimesTen,
  stationRegisterCount,
  STATUS_BITS,
  STATUS_WORD_ADDRESS,
} from '../../src/modbus/register-layout.js';
import { PUMP_MODE_CODES, type PumpMode } from '../../src/station/pipeline.js';
import type { StationSnapshot } from '../../src/station/snapshot.js';
import { makePump, makeStation } from './station-fixture.js';

function register(registers: Buffer, address: number): number {
  return registers.readUInt16BE(address * 2);
}

function pumpRegisters(registers: Buffer, pumpNumber: number, offset: number, count: number): Buffer {
  const start = (pumpBlockAddress(pumpNumber) + offset) * 2;
  return registers.subarray(start, start + count * 2);
}

describe('register layout addresses', () => {
  it('places pump blocks every 10 registers from 40011', () => {
    expect(pumpBlockAddress(1)).toBe(10);
    expect(pumpBlockAddress(2)).toBe(20);
    expect(pumpBlockAddress(16)).toBe(160);
  });

  it('counts 10 header registers plus 10 per pump', () => {
    expect(stationRegisterCount(0)).toBe(10);
    expect(stationRegisterCount(3)).toBe(40);
    expect(encodeStationRegisters(makeStation({ pumps: [makePump(), makePump(), makePump()] })).length).toBe(80);
  });
});

describe('status word', () => {
  const flags: Array<[keyof typeof STATUS_BITS, number]> = [
    ['emergencyStopActive', 0],
    ['recovering', 1],
    ['failsafeActive', 2],
    ['planStale', 3],
    ['databaseUnreachable', 4],
  ];

  it.each(flags)('sets only bit for %s', (flag, bit) => {
    const registers = encodeStationRegisters(makeStation({ [flag]: true } as Partial<StationSnapshot>));
    expect(register(registers, STATUS_WORD_ADDRESS)).toBe(1 << bit);
    expect(STATUS_BITS[flag]).toBe(1 << bit);
  });

  it('is 0 for an operational station', () => {
    expect(register(encodeStationRegisters(makeStation()), STATUS_WORD_ADDRESS)).toBe(0);
  });

  it('combines all bits', () => {
    const registers = encodeStationRegisters(
      makeStation({ emergencyStopActive: true, recovering: true, failsafeActive: true, planStale: true, databaseUnreachable: true }),
    );
    expect(register(registers, STATUS_WORD_ADDRESS)).toBe(0b11111);
  });
});

describe('station header registers', () => {
  it('encodes heartbeat and pump count', () => {
    const registers = encodeStationRegisters(makeStation({ heartbeat: 65535, pumps: [makePump(), makePump()] }));
    expect(register(registers, HEARTBEAT_ADDRESS)).toBe(65535);
    expect(register(registers, PUMP_COUNT_ADDRESS)).toBe(2);
  });

  it('wraps an out-of-range heartbeat onto 0..65535', () => {
    const registers = encodeStationRegisters(makeStation({ heartbeat: 65536 + 5 }));
    expect(register(registers, HEARTBEAT_ADDRESS)).toBe(5);
  });

  it('leaves reserved registers 3 to 9 at 0', () => {
    const registers = encodeStationRegisters(makeStation({ heartbeat: 0xffff, emergencyStopActive: true }));
    for (let address = 3; address < FIRST_PUMP_BLOCK_ADDRESS; address += 1) {
      expect(register(registers, address), `register at address ${address}`).toBe(0);
    }
  });
});

describe('pump block', () => {
  it('encodes float32 values in ABCD order', () => {
    const registers = encodeStationRegisters(makeStation({ pumps: [makePump({ setpoint: 42.5, minimum: 20, maximum: 50 })] }));
    expect(pumpRegisters(registers, 1, PUMP_REGISTER_OFFSETS.setpoint, 2)).toEqual(Buffer.from([0x42, 0x2a, 0x00, 0x00]));
    expect(pumpRegisters(registers, 1, PUMP_REGISTER_OFFSETS.minimum, 2)).toEqual(Buffer.from([0x41, 0xa0, 0x00, 0x00]));
    expect(pumpRegisters(registers, 1, PUMP_REGISTER_OFFSETS.maximum, 2)).toEqual(Buffer.from([0x42, 0x48, 0x00, 0x00]));
  });

  it('encodes a negative float32 with the sign in the high word', () => {
    const registers = encodeStationRegisters(makeStation({ pumps: [makePump({ setpoint: -1.5, minimum: -2 })] }));
    expect(pumpRegisters(registers, 1, PUMP_REGISTER_OFFSETS.setpoint, 2)).toEqual(Buffer.from([0xbf, 0xc0, 0x00, 0x00]));
  });

  it('places the second pump at address 20', () => {
    const registers = encodeStationRegisters(makeStation({ pumps: [makePump({ setpoint: 1 }), makePump({ setpoint: 30.25 })] }));
    expect(registers.readFloatBE(20 * 2)).toBe(30.25);
    expect(registers.readInt16BE((20 + PUMP_REGISTER_OFFSETS.setpointTimesTen) * 2)).toBe(303);
  });

  it.each(Object.entries(PUMP_MODE_CODES) as Array<[PumpMode, number]>)('encodes mode %s as %i', (mode, code) => {
    const registers = encodeStationRegisters(makeStation({ pumps: [makePump({ mode })] }));
    expect(register(registers, pumpBlockAddress(1) + PUMP_REGISTER_OFFSETS.modeCode)).toBe(code);
  });

  it('fixes the mode codes that SCADA scripts use', () => {
    expect(PUMP_MODE_CODES).toEqual({ plan: 0, override: 1, failsafe: 2, stopped: 3, recovering: 4 });
  });

  it('leaves reserved offsets 8 and 9 at 0', () => {
    const registers = encodeStationRegisters(makeStation({ pumps: [makePump({ setpoint: -1, minimum: -100, maximum: -1 })] }));
    expect(register(registers, pumpBlockAddress(1) + 8)).toBe(0);
    expect(register(registers, pumpBlockAddress(1) + 9)).toBe(0);
  });

  it('encodes the setpoint × 10 register as two’s complement int16', () => {
    const registers = encodeStationRegisters(makeStation({ pumps: [makePump({ setpoint: -12.34, minimum: -20 })] }));
    const address = pumpBlockAddress(1) + PUMP_REGISTER_OFFSETS.setpointTimesTen;
    expect(registers.readInt16BE(address * 2)).toBe(-123);
    expect(register(registers, address)).toBe(0x10000 - 123);
  });
});

describe('setpointTimesTen', () => {
  const cases: Array<[number, number]> = [
    [42.5, 425],
    [0, 0],
    [0.04, 0],
    [0.05, 1],
    [-0.06, -1],
    [3276.7, 32767],
    [3276.8, 32767],
    [1e9, 32767],
    [-3276.8, -32768],
    [-3276.9, -32768],
    [-1e9, -32768],
    [Number.POSITIVE_INFINITY, 32767],
    [Number.NEGATIVE_INFINITY, -32768],
    [Number.NaN, 0],
  ];

  it.each(cases)('converts %d to %i', (setpoint, expected) => {
    expect(setpointTimesTen(setpoint)).toBe(expected);
  });
});

describe('encodeStationRegisters limits', () => {
  it('rejects more pumps than the address space fits', () => {
    const pumps = Array.from({ length: MAX_PUMPS + 1 }, () => makePump());
    expect(() => encodeStationRegisters(makeStation({ pumps }))).toThrow(RangeError);
  });

  it('accepts the largest pump count', () => {
    const pumps = Array.from({ length: MAX_PUMPS }, () => makePump());
    expect(encodeStationRegisters(makeStation({ pumps })).length).toBe(stationRegisterCount(MAX_PUMPS) * 2);
  });
});
