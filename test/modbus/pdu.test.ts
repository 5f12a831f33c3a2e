import { describe, it, expect } from 'vitest';
import { handleRequestPdu } from '../../src/modbus/pdu.js';
import { RegisterImage } from '../../src/modbus/register-image.js';
import { hex, toHex } from './raw-client.js';
import { makeStation } from './station-fixture.js';

/** Unit 1 allows the emergency-stop coil, unit 2 does not. Both have one pump, so 20 registers. */
function makeImage(): RegisterImage {
  const image = new RegisterImage();
  image.defineStation(1, { allowEmergencyStopCoil: true });
  image.setStation(makeStation({ unitId: 1, emergencyStopActive: true }));
  image.setStation(makeStation({ unitId: 2, stationId: 'station-2' }));
  return image;
}

describe('handleRequestPdu responses', () => {
  const cases: Array<[string, number, string, string]> = [
    ['unknown unit before unsupported function', 9, '2b 0e 01 00', 'ab 0b'],
    ['unsupported function code', 1, '2b 0e 01 00', 'ab 01'],
    ['function code with the exception bit', 1, '83 00 00 00 01', '83 01'],
    ['quantity checked before address', 1, '03 ff ff 00 00', '83 03'],
    ['read of 125 registers past the map', 1, '03 00 00 00 7d', '83 02'],
    ['read of 126 registers', 1, '03 00 00 00 7e', '83 03'],
    ['register request one byte short', 1, '03 00 00 00', '83 03'],
    ['register request one byte long', 1, '04 00 00 00 01 00', '84 03'],
    ['read of the last register', 1, '03 00 13 00 01', '03 02 00 00'],
    ['read one past the last register', 1, '04 00 13 00 02', '84 02'],
    ['coil read of an active stop', 1, '01 00 00 00 01', '01 01 01'],
    ['coil read of an inactive stop', 2, '01 00 00 00 01', '01 01 00'],
    ['coil read of 2 coils', 1, '01 00 00 00 02', '81 02'],
    ['coil read of 2000 coils', 1, '01 00 00 07 d0', '81 02'],
    ['coil read of 2001 coils', 1, '01 00 00 07 d1', '81 03'],
    ['coil read of 0 coils', 1, '01 00 00 00 00', '81 03'],
    ['coil read at address 1', 1, '01 00 01 00 01', '81 02'],
    ['coil write OFF', 1, '05 00 00 00 00', '85 03'],
    ['coil write of a value neither ON nor OFF', 1, '05 00 00 12 34', '85 03'],
    ['coil write value checked before address', 1, '05 00 07 00 01', '85 03'],
    ['coil write at address 1', 1, '05 00 01 ff 00', '85 02'],
    ['coil write on a station without permission', 2, '05 00 00 ff 00', '85 02'],
    ['coil write OFF on a station without permission', 2, '05 00 00 00 00', '85 02'],
    ['discrete input read of an active stop', 1, '02 00 00 00 01', '02 01 01'],
    ['discrete input read at address 1', 1, '02 00 01 00 01', '82 02'],
    ['single register write to the read-only status word', 1, '06 00 00 00 01', '86 02'],
  ];

  it.each(cases)('%s', (_name, unitId, request, expected) => {
    const result = handleRequestPdu(makeImage(), unitId, hex(request));
    expect(toHex(result.pdu)).toBe(expected);
  });
});

describe('handleRequestPdu emergency-stop coil', () => {
  it('asks the caller to run the stop and echo the request', () => {
    const request = hex('05 00 00 ff 00');
    const result = handleRequestPdu(makeImage(), 1, request);
    if (result.kind !== 'write') throw new Error(`expected a write, got ${result.kind}`);
    expect(result.emergencyStop).toBe(true);
    expect(result.feedback).toEqual([]);
    expect(result.pdu).toEqual(request);
  });

  it('explains a rejected clear', () => {
    const result = handleRequestPdu(makeImage(), 1, hex('05 00 00 00 00'));
    expect(result.kind).toBe('exception');
    if (result.kind !== 'exception') return;
    expect(result.reason).toMatch(/clearing an emergency stop from Modbus is never allowed/);
  });

  it('names the setting for a station without permission', () => {
    const result = handleRequestPdu(makeImage(), 2, hex('05 00 00 ff 00'));
    if (result.kind !== 'exception') throw new Error(`expected an exception, got ${result.kind}`);
    expect(result.reason).toMatch(/allow_modbus_emergency_stop/);
  });
});
