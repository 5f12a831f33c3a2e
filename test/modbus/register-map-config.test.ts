import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { AdapterError } from '../../src/errors.js';
import { registerMapDefinition } from '../../src/modbus/register-map-config.js';

const SOURCE = 'site.yaml';

/** Configuration of one station "north" on unit 1 with pumps p1 (speed 10 to 50 Hz) and p2 (flow 0 to 400 l/s). */
function configWith(registers: unknown[], station: Record<string, unknown> = {}, registerMap: Record<string, unknown> = {}): string {
  return stringify({
    stations: [
      {
        id: 'north',
        unit_id: 1,
        pumps: [
          { id: 'p1', control_variable: 'speed', unit: 'Hz', minimum: 10, maximum: 50, max_rate_per_second: 2, failsafe_setpoint: 30 },
          { id: 'p2', control_variable: 'flow', unit: 'l/s', minimum: 0, maximum: 400, max_rate_per_second: 5, failsafe_setpoint: 100 },
        ],
        register_map: { registers, ...registerMap },
        ...station,
      },
    ],
  });
}

function configError(text: string): AdapterError {
  try {
    parseConfigText(text, SOURCE);
  } catch (error) {
    if (error instanceof AdapterError) return error;
    throw error;
  }
  throw new Error('expected CONFIG_INVALID, but the configuration was accepted');
}

describe('register_map accepted', () => {
  it('accepts every data type and byte order', () => {
    const registers = ['int16', 'uint16', 'int32', 'uint32', 'float32'].flatMap((type, typeIndex) =>
      ['ABCD', 'CDAB', 'BADC', 'DCBA'].map((order, orderIndex) => ({
        kind: 'holding',
        address: 100 + typeIndex * 8 + orderIndex * 2,
        type,
        order,
        pump: 'p1',
        value: 'setpoint',
      })),
    );
    const file = parseConfigText(configWith(registers), SOURCE);
    expect(file.stations[0]?.register_map?.registers).toHaveLength(20);
  });

  it('fills in defaults for order, scale, offset and access', () => {
    const file = parseConfigText(configWith([{ kind: 'holding', address: 200, type: 'uint16', pump: 'p2', value: 'measured_flow' }]), SOURCE);
    const station = file.stations[0];
    if (!station) throw new Error('no station parsed');
    const definition = registerMapDefinition(station);
    expect(definition.defaultLayout).toBe(true);
    expect(definition.entries[0]).toMatchObject({ order: 'ABCD', scale: 1, offset: 0, writable: true, pumpIndex: 1, pumpId: 'p2' });
  });

  it('keeps the default layout unless it is turned off', () => {
    const file = parseConfigText(configWith([{ kind: 'holding', address: 0, type: 'uint16', value: 'status_word' }], {}, { default_layout: false }), SOURCE);
    expect(file.stations[0]?.register_map?.default_layout).toBe(false);
  });

  it('loads the Modbus limits with their defaults', () => {
    const config = loadConfig({});
    expect(config.modbus).toMatchObject({
      max_connections: 100,
      max_connections_per_address: 20,
      idle_timeout_seconds: 60,
      first_frame_timeout_seconds: 10,
      unknown_unit_response: 'exception',
      feedback_flush_ms: 250,
      feedback_batch_rows: 500,
    });
  });
});

describe('register_map rejected', () => {
  const cases: Array<[string, unknown[], Record<string, unknown>, RegExp]> = [
    [
      'an unknown pump id',
      [{ kind: 'holding', address: 100, type: 'float32', pump: 'p9', value: 'setpoint' }],
      {},
      /stations\[0\]\.register_map\.registers\[0\]\.pump: station "north" register 0 \(holding 100\): unknown pump id "p9"; use one of p1, p2/,
    ],
    ['a pump value without a pump', [{ kind: 'holding', address: 100, type: 'float32', value: 'setpoint' }], {}, /value setpoint belongs to a pump; add pump:/],
    ['a station value with a pump', [{ kind: 'holding', address: 100, type: 'uint16', pump: 'p1', value: 'level' }], {}, /value level belongs to the station, not to a pump/],
    [
      'an overlap with the default layout',
      [{ kind: 'holding', address: 25, type: 'uint16', value: 'heartbeat' }],
      {},
      /station "north" register 0 \(holding 25\): holding address 25 is already used by the default layout/,
    ],
    [
      'two registers on one address',
      [
        { name: 'speed', kind: 'holding', address: 100, type: 'float32', pump: 'p1', value: 'setpoint' },
        { name: 'flow', kind: 'holding', address: 101, type: 'uint16', pump: 'p2', value: 'setpoint' },
      ],
      {},
      /register 1 "flow" \(holding 101\): holding address 101 is already used by registers\[0\] "speed"/,
    ],
    ['a float32 past address 65535', [{ kind: 'input', address: 65535, type: 'float32', pump: 'p1', value: 'setpoint' }], {}, /runs past address 65535/],
    ['an address above 65535', [{ kind: 'holding', address: 65536, type: 'uint16', value: 'heartbeat' }], {}, /registers\[0\]\.address: Too big/i],
    [
      'an int16 that cannot hold the scaled range',
      [{ kind: 'holding', address: 100, type: 'int16', scale: 100, pump: 'p2', value: 'setpoint' }],
      {},
      /int16 \(-32768 to 32767\) cannot hold setpoint over \[0, 400\] × scale 100 \+ offset 0, which gives 0 to 40000; use a wider type or a smaller scale/,
    ],
    [
      'a float32 whose scaled range overflows',
      [{ kind: 'holding', address: 100, type: 'float32', scale: 1e300, pump: 'p2', value: 'setpoint' }],
      {},
      /float32 cannot hold setpoint over \[0, 400\] × scale 1e\+300 \+ offset 0; use a smaller scale/,
    ],
    [
      'a uint16 below 0 through its offset',
      [{ kind: 'holding', address: 100, type: 'uint16', offset: -20, pump: 'p1', value: 'minimum' }],
      {},
      /uint16 \(0 to 65535\) cannot hold minimum over \[10, 50\]/,
    ],
    ['a register without a type', [{ kind: 'holding', address: 100, pump: 'p1', value: 'setpoint' }], {}, /type is missing; use one of int16, uint16, int32, uint32, float32/],
    ['a coil with a type', [{ kind: 'coil', address: 5, type: 'uint16', pump: 'p1', value: 'running' }], {}, /a coil carries one bit; remove type: uint16/],
    ['a number on a coil', [{ kind: 'coil', address: 5, pump: 'p1', value: 'setpoint' }], {}, /value setpoint is not a bit; map it to a holding or input register/],
    ['a writable setpoint', [{ kind: 'holding', address: 100, type: 'float32', access: 'read_write', pump: 'p1', value: 'setpoint' }], {}, /published by the adapter and cannot be written from Modbus/],
    ['feedback in an input register', [{ kind: 'input', address: 100, type: 'float32', pump: 'p1', value: 'measured_speed' }], {}, /needs a holding register or a coil, not a input/],
    ['read-only feedback', [{ kind: 'holding', address: 100, type: 'float32', access: 'read_only', pump: 'p1', value: 'measured_speed' }], {}, /remove access: read_only/],
    [
      'one feedback value in two registers',
      [
        { kind: 'holding', address: 100, type: 'float32', pump: 'p1', value: 'measured_speed' },
        { kind: 'holding', address: 102, type: 'int16', pump: 'p1', value: 'measured_speed' },
      ],
      {},
      /measured_speed of pump "p1" is already written through registers\[0\]/,
    ],
    [
      'a writable stop coil on a station that forbids it',
      [{ kind: 'coil', address: 10, access: 'read_write', value: 'emergency_stop' }],
      {},
      /writable only where the station sets allow_modbus_emergency_stop: true/,
    ],
    ['scale 0', [{ kind: 'holding', address: 100, type: 'float32', scale: 0, pump: 'p1', value: 'setpoint' }], {}, /scale must not be 0/],
    ['an unknown byte order', [{ kind: 'holding', address: 100, type: 'float32', order: 'BCDA', pump: 'p1', value: 'setpoint' }], {}, /registers\[0\]\.order/],
    ['an unknown key', [{ kind: 'holding', address: 100, type: 'float32', pump: 'p1', value: 'setpoint', unit: 'Hz' }], {}, /unknown key "unit"/],
  ];

  it.each(cases)('rejects %s', (_name, registers, station, message) => {
    const error = configError(configWith(registers, station));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(message);
  });

  it('reports every broken register at once', () => {
    const error = configError(
      configWith([
        { kind: 'holding', address: 100, type: 'float32', pump: 'p9', value: 'setpoint' },
        { kind: 'holding', address: 102, type: 'float32', value: 'setpoint' },
      ]),
    );
    expect(error.message).toMatch(/register 0 \(holding 100\): unknown pump id/);
    expect(error.message).toMatch(/register 1 \(holding 102\): value setpoint belongs to a pump/);
  });
});

describe('modbus limits', () => {
  it.each([
    [{ max_connections: 0 }, /modbus\.max_connections/],
    [{ max_connections_per_address: 1.5 }, /modbus\.max_connections_per_address/],
    [{ first_frame_timeout_seconds: 0 }, /modbus\.first_frame_timeout_seconds/],
    [{ unknown_unit_response: 'drop' }, /modbus\.unknown_unit_response/],
  ])('rejects %o', (modbus, message) => {
    const text = stringify({ modbus, stations: [{ id: 'north', unit_id: 1, pumps: [{ id: 'p1', control_variable: 'on_off', unit: '-', minimum: 0, maximum: 1, max_rate_per_second: 1, failsafe_setpoint: 0 }] }] });
    expect(configError(text).message).toMatch(message);
  });
});
