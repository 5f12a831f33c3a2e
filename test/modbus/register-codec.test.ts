import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeInline, RegisterImage } from '../../src/modbus/register-image.js';
import { BYTE_ORDER_CODES, BYTE_ORDERS, DATA_TYPE_CODES, DATA_TYPES, decodeRegisterValue, encodeRegisterValue, registerWidth } from '../../src/modbus/register-codec.js';
import { encodeStationRegisters } from '../../src/modbus/register-layout.js';
import type { PumpMode } from '../../src/station/pipeline.js';
import { toHex } from './raw-client.js';
import { makePump, makeStation } from './station-fixture.js';

function encode(type: (typeof DATA_TYPES)[number], order: (typeof BYTE_ORDERS)[number], value: number, scale = 1, offset = 0): string {
  const bytes = Buffer.alloc(registerWidth(type) * 2);
  encodeRegisterValue(bytes, 0, DATA_TYPE_CODES[type], BYTE_ORDER_CODES[order], value, scale, offset);
  return toHex(bytes);
}

describe('register codec byte orders', () => {
  // 0x11223344 and float32 12.5 = 0x41480000 show where each byte A, B, C, D goes.
  const cases: Array<[(typeof BYTE_ORDERS)[number], string, string, string]> = [
    ['ABCD', '11 22 33 44', '41 48 00 00', '12 34'],
    ['CDAB', '33 44 11 22', '00 00 41 48', '12 34'],
    ['BADC', '22 11 44 33', '48 41 00 00', '34 12'],
    ['DCBA', '44 33 22 11', '00 00 48 41', '34 12'],
  ];

  it.each(cases)('places bytes in %s order', (order, uint32, float32, uint16) => {
    expect(encode('uint32', order, 0x11223344)).toBe(uint32);
    expect(encode('int32', order, 0x11223344)).toBe(uint32);
    expect(encode('float32', order, 12.5)).toBe(float32);
    expect(encode('uint16', order, 0x1234)).toBe(uint16);
    expect(encode('int16', order, 0x1234)).toBe(uint16);
  });
});

describe('register codec scaling', () => {
  it('applies scale and offset before rounding', () => {
    expect(encode('int16', 'ABCD', 12.34, 10)).toBe('00 7b');
    expect(encode('uint16', 'ABCD', 2, 100, 5)).toBe('00 cd');
  });

  it('saturates integers and turns NaN into 0', () => {
    expect(encode('int16', 'ABCD', 5000, 10)).toBe('7f ff');
    expect(encode('int16', 'ABCD', -5000, 10)).toBe('80 00');
    expect(encode('uint16', 'ABCD', -1)).toBe('00 00');
    expect(encode('uint32', 'ABCD', Number.NaN)).toBe('00 00 00 00');
  });

  it('round-trips every type and order', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DATA_TYPES),
        fc.constantFrom(...BYTE_ORDERS),
        fc.integer({ min: -30000, max: 30000 }),
        fc.constantFrom(1, 10, 0.5),
        (type, order, raw, scale) => {
          const unsigned = type.startsWith('u');
          const registerValue = unsigned ? Math.abs(raw) : raw;
          const engineering = registerValue / scale;
          const bytes = Buffer.alloc(4);
          encodeRegisterValue(bytes, 0, DATA_TYPE_CODES[type], BYTE_ORDER_CODES[order], engineering, scale, 0);
          const decoded = decodeRegisterValue(bytes, 0, DATA_TYPE_CODES[type], BYTE_ORDER_CODES[order], scale, 0);
          expect(decoded).toBeCloseTo(engineering, 5);
        },
      ),
    );
  });
});

describe('default layout as a register map', () => {
  const modes: PumpMode[] = ['plan', 'override', 'failsafe', 'stopped', 'recovering'];
  const pump = fc.record({
    setpoint: fc.double({ min: -5000, max: 5000, noNaN: true }),
    minimum: fc.double({ min: -100, max: 100, noNaN: true }),
    maximum: fc.double({ min: -100, max: 1000, noNaN: true }),
    mode: fc.constantFrom(...modes),
  });

  it('encodes the same bytes as encodeStationRegisters', () => {
    fc.assert(
      fc.property(
        fc.array(pump, { minLength: 1, maxLength: 16 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.boolean(),
        fc.boolean(),
        (pumps, heartbeat, emergencyStopActive, failsafeActive) => {
          const snapshot = makeStation({
            heartbeat,
            emergencyStopActive,
            failsafeActive,
            pumps: pumps.map((fields, index) => makePump({ pumpId: `pump-${index}`, ...fields })),
          });
          const image = new RegisterImage();
          const { holding, input } = encodeInline(image.prepare(snapshot));
          const expected = encodeStationRegisters(snapshot);
          expect(toHex(holding)).toBe(toHex(expected));
          expect(toHex(input)).toBe(toHex(expected));
        },
      ),
      { numRuns: 200 },
    );
  });
});
