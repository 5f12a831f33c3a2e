import { afterEach, describe, it, expect } from 'vitest';
import type { FeedbackReceived, ModbusTcpServer, WriteRejectedEvent } from '../../src/modbus/server.js';
import type { ModbusServerOptions } from '../../src/modbus/server.js';
import { handleRequestPdu } from '../../src/modbus/pdu.js';
import { RegisterImage } from '../../src/modbus/register-image.js';
import { defineMappedStation, MAPPED_STATION, MAPPED_UNIT_ID, makeMappedSnapshot, registers } from './map-fixture.js';
import { hex, RawModbusClient, toHex } from './raw-client.js';
import { closeAll, makeTestImage, startServer } from './server-helpers.js';

/**
 * Function codes 2, 5, 6, 15, 16 and 23 on the wire, each response checked byte for byte. Unit 5
 * has the configured map of map-fixture.ts; units 1 and 2 have the default layout.
 */

const started: ModbusTcpServer[] = [];
const clients: RawModbusClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await closeAll(started);
});

interface WriteServer {
  client: RawModbusClient;
  feedback: FeedbackReceived[];
  rejected: WriteRejectedEvent[];
  stops: number[];
}

async function startWriteServer(options: Partial<ModbusServerOptions> = {}): Promise<WriteServer> {
  const image = makeTestImage();
  defineMappedStation(image, MAPPED_STATION, makeMappedSnapshot());
  const feedback: FeedbackReceived[] = [];
  const rejected: WriteRejectedEvent[] = [];
  const stops: number[] = [];
  const { port } = await startServer(started, {
    image,
    onFeedback: (received) => void feedback.push(received),
    onWriteRejected: (event) => void rejected.push(event),
    onEmergencyStopCoil: ({ unitId }) => void stops.push(unitId),
    ...options,
  });
  const client = await RawModbusClient.connect(port);
  clients.push(client);
  return { client, feedback, rejected, stops };
}

async function expectExchange(client: RawModbusClient, request: string, expected: string): Promise<void> {
  const response = await client.request(hex(request), hex(expected).length);
  expect(toHex(response)).toBe(toHex(hex(expected)));
}

/** Feedback as [pump, value name, engineering value] triples, in write order. */
function feedbackValues(feedback: FeedbackReceived[]): Array<[string | null, string, number]> {
  return feedback.flatMap((received) => received.writes.map((write): [string | null, string, number] => [write.entry.pumpId, write.entry.value, write.value]));
}

describe('FC2 read discrete inputs', () => {
  it('packs three discrete inputs into one byte', async () => {
    const { client } = await startWriteServer();
    await expectExchange(client, '00 01 00 00 00 06 05 02 00 00 00 03', '00 01 00 00 00 04 05 02 01 04');
  });

  it.each([
    ['03 for a quantity of 0', '00 02 00 00 00 06 05 02 00 00 00 00', '00 02 00 00 00 03 05 82 03'],
    ['03 for a quantity of 2001', '00 03 00 00 00 06 05 02 00 00 07 d1', '00 03 00 00 00 03 05 82 03'],
    ['02 for 2000 inputs past the map', '00 04 00 00 00 06 05 02 00 00 07 d0', '00 04 00 00 00 03 05 82 02'],
    ['02 for address 3', '00 05 00 00 00 06 05 02 00 03 00 01', '00 05 00 00 00 03 05 82 02'],
    ['03 for a request one byte long', '00 06 00 00 00 07 05 02 00 00 00 01 00', '00 06 00 00 00 03 05 82 03'],
  ])('returns %s', async (_name, request, expected) => {
    const { client } = await startWriteServer();
    await expectExchange(client, request, expected);
  });

  it('mirrors the stop coil on the default layout', async () => {
    const { client } = await startWriteServer();
    await expectExchange(client, '00 07 00 00 00 06 02 02 00 00 00 01', '00 07 00 00 00 04 02 02 01 00');
  });
});

describe('FC6 write single register', () => {
  it('stores a uint16 feedback value scaled by 10', async () => {
    const { client, feedback, rejected } = await startWriteServer();
    await expectExchange(client, '00 10 00 00 00 06 05 06 00 0c 01 f4', '00 10 00 00 00 06 05 06 00 0c 01 f4');
    await expectExchange(client, '00 11 00 00 00 06 05 03 00 0c 00 01', '00 11 00 00 00 05 05 03 02 01 f4');
    expect(feedbackValues(feedback)).toEqual([['p1', 'measured_flow', 50]]);
    expect(feedback[0]?.unitId).toBe(5);
    expect(feedback[0]?.remoteAddress).toBe('127.0.0.1');
    expect(rejected).toEqual([]);
  });

  it('decodes an int16 in DCBA order', async () => {
    const { client, feedback } = await startWriteServer();
    await expectExchange(client, '00 12 00 00 00 06 05 06 00 14 f9 ff', '00 12 00 00 00 06 05 06 00 14 f9 ff');
    expect(feedbackValues(feedback)).toEqual([['p2', 'measured_speed', -7]]);
  });

  it('rejects the read-only setpoint with 02 and reports it', async () => {
    const { client, feedback, rejected } = await startWriteServer();
    await expectExchange(client, '00 13 00 00 00 06 05 06 00 00 00 01', '00 13 00 00 00 03 05 86 02');
    expect(feedback).toEqual([]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ unitId: 5, functionCode: 6, exceptionCode: 2, table: 'holding', address: 0, count: 1, clearsEmergencyStop: false });
    expect(rejected[0]?.reason).toMatch(/read-only/);
  });

  it.each([
    ['02 for half of a float32', '00 14 00 00 00 06 05 06 00 0a 00 01', '00 14 00 00 00 03 05 86 02', /part of the float32 value at 10/],
    ['02 for an unmapped address', '00 15 00 00 00 06 05 06 00 05 00 01', '00 15 00 00 00 03 05 86 02', /outside the map/],
  ])('returns %s', async (_name, request, expected, reason) => {
    const { client, rejected } = await startWriteServer();
    await expectExchange(client, request, expected);
    expect(rejected[0]?.reason).toMatch(reason);
  });

  it('returns 03 for a request one byte long', async () => {
    const { client, rejected } = await startWriteServer();
    await expectExchange(client, '00 16 00 00 00 07 05 06 00 0c 01 f4 00', '00 16 00 00 00 03 05 86 03');
    expect(rejected).toEqual([]);
  });

  it('rejects the default layout status word with 02', async () => {
    const { client, rejected } = await startWriteServer();
    await expectExchange(client, '00 17 00 00 00 06 01 06 00 00 00 00', '00 17 00 00 00 03 01 86 02');
    expect(rejected[0]).toMatchObject({ unitId: 1, address: 0 });
  });
});

describe('FC16 write multiple registers', () => {
  it('stores a float32 in CDAB order and a uint16 in one request', async () => {
    const { client, feedback } = await startWriteServer();
    await expectExchange(client, '00 20 00 00 00 0d 05 10 00 0a 00 03 06 00 00 41 fc 00 7b', '00 20 00 00 00 06 05 10 00 0a 00 03');
    await expectExchange(client, '00 21 00 00 00 06 05 03 00 0a 00 03', '00 21 00 00 00 09 05 03 06 00 00 41 fc 00 7b');
    expect(feedbackValues(feedback)).toEqual([
      ['p1', 'measured_speed', 31.5],
      ['p1', 'measured_flow', 12.3],
    ]);
  });

  it('decodes an int32 in BADC order scaled by 100', async () => {
    const { client, feedback } = await startWriteServer();
    await expectExchange(client, '00 22 00 00 00 0b 05 10 00 0d 00 02 04 00 00 fa 00', '00 22 00 00 00 06 05 10 00 0d 00 02');
    await expectExchange(client, '00 23 00 00 00 0b 05 10 00 0d 00 02 04 ff ff 6a ff', '00 23 00 00 00 06 05 10 00 0d 00 02');
    expect(feedbackValues(feedback)).toEqual([
      [null, 'level', 2.5],
      [null, 'level', -1.5],
    ]);
  });

  it.each([
    ['03 for a quantity of 0', '00 24 00 00 00 07 05 10 00 0a 00 00 00', '00 24 00 00 00 03 05 90 03'],
    ['03 for a quantity of 124', '00 25 00 00 00 07 05 10 00 0a 00 7c f8', '00 25 00 00 00 03 05 90 03'],
    ['03 for a byte count that does not match', '00 26 00 00 00 0b 05 10 00 0c 00 01 04 00 01 00 02', '00 26 00 00 00 03 05 90 03'],
    ['03 for data shorter than the byte count', '00 27 00 00 00 08 05 10 00 0c 00 01 02 00', '00 27 00 00 00 03 05 90 03'],
    ['03 for a header cut short', '00 28 00 00 00 05 05 10 00 0c 00', '00 28 00 00 00 03 05 90 03'],
    ['03 for a NaN float32', '00 29 00 00 00 0b 05 10 00 0a 00 02 04 00 00 7f c0', '00 29 00 00 00 03 05 90 03'],
  ])('returns %s', async (_name, request, expected) => {
    const { client, feedback, rejected } = await startWriteServer();
    await expectExchange(client, request, expected);
    expect(feedback).toEqual([]);
    expect(rejected).toEqual([]);
  });

  it.each([
    ['02 for a range starting inside a float32', '00 2a 00 00 00 0b 05 10 00 0b 00 02 04 00 00 00 01', '00 2a 00 00 00 03 05 90 02'],
    ['02 for a range ending inside an int32', '00 2b 00 00 00 0b 05 10 00 0c 00 02 04 00 01 00 02', '00 2b 00 00 00 03 05 90 02'],
    ['02 for a range over a read-only setpoint', '00 2c 00 00 00 0b 05 10 00 00 00 02 04 00 00 00 00', '00 2c 00 00 00 03 05 90 02'],
    ['02 for a range with an unmapped register', '00 2d 00 00 00 0b 05 10 00 13 00 02 04 00 00 00 00', '00 2d 00 00 00 03 05 90 02'],
  ])('returns %s and changes nothing', async (_name, request, expected) => {
    const { client, feedback, rejected } = await startWriteServer();
    await expectExchange(client, request, expected);
    await expectExchange(client, '00 2e 00 00 00 06 05 03 00 0a 00 05', '00 2e 00 00 00 0d 05 03 0a 00 00 00 00 00 00 00 00 00 00');
    expect(feedback).toEqual([]);
    expect(rejected).toHaveLength(1);
  });
});

describe('FC5 and FC15 coil writes', () => {
  it('stores running states with FC15 and reads them back', async () => {
    const { client, feedback, stops } = await startWriteServer();
    await expectExchange(client, '00 30 00 00 00 08 05 0f 00 01 00 02 01 01', '00 30 00 00 00 06 05 0f 00 01 00 02');
    await expectExchange(client, '00 31 00 00 00 06 05 01 00 00 00 03', '00 31 00 00 00 04 05 01 01 02');
    expect(feedbackValues(feedback)).toEqual([
      ['p1', 'running', 1],
      ['p2', 'running', 0],
    ]);
    expect(stops).toEqual([]);
  });

  it('stores a running state with FC5', async () => {
    const { client, feedback } = await startWriteServer();
    await expectExchange(client, '00 32 00 00 00 06 05 05 00 02 ff 00', '00 32 00 00 00 06 05 05 00 02 ff 00');
    expect(feedbackValues(feedback)).toEqual([['p2', 'running', 1]]);
  });

  it('stops the station when FC15 writes 1 to the stop coil', async () => {
    const { client, feedback, stops } = await startWriteServer();
    await expectExchange(client, '00 33 00 00 00 08 05 0f 00 00 00 03 01 07', '00 33 00 00 00 06 05 0f 00 00 00 03');
    expect(stops).toEqual([5]);
    expect(feedbackValues(feedback)).toEqual([
      ['p1', 'running', 1],
      ['p2', 'running', 1],
    ]);
  });

  it('rejects FC15 writing 0 to the stop coil with 03 and changes nothing', async () => {
    const { client, feedback, rejected, stops } = await startWriteServer();
    await expectExchange(client, '00 34 00 00 00 08 05 0f 00 00 00 02 01 02', '00 34 00 00 00 03 05 8f 03');
    await expectExchange(client, '00 35 00 00 00 06 05 01 00 00 00 03', '00 35 00 00 00 04 05 01 01 00');
    expect(stops).toEqual([]);
    expect(feedback).toEqual([]);
    expect(rejected[0]).toMatchObject({ functionCode: 15, exceptionCode: 3, table: 'coil', address: 0, clearsEmergencyStop: true });
  });

  it.each([
    ['03 for a quantity of 0', '00 36 00 00 00 07 05 0f 00 01 00 00 00', '00 36 00 00 00 03 05 8f 03'],
    ['03 for a quantity of 1969', '00 37 00 00 00 07 05 0f 00 01 07 b1 f7', '00 37 00 00 00 03 05 8f 03'],
    ['03 for a byte count that does not match', '00 38 00 00 00 09 05 0f 00 01 00 02 02 01 00', '00 38 00 00 00 03 05 8f 03'],
    ['03 for data shorter than the byte count', '00 39 00 00 00 07 05 0f 00 01 00 02 01', '00 39 00 00 00 03 05 8f 03'],
    ['03 for an FC5 value neither ON nor OFF', '00 3a 00 00 00 06 05 05 00 01 00 01', '00 3a 00 00 00 03 05 85 03'],
  ])('returns %s', async (_name, request, expected) => {
    const { client, feedback, rejected } = await startWriteServer();
    await expectExchange(client, request, expected);
    expect(feedback).toEqual([]);
    expect(rejected).toEqual([]);
  });

  it.each([
    ['02 for a range past the last coil', '00 3b 00 00 00 08 05 0f 00 01 00 03 01 00', '00 3b 00 00 00 03 05 8f 02'],
    ['02 for the stop coil of a station that forbids it', '00 3c 00 00 00 08 02 0f 00 00 00 01 01 01', '00 3c 00 00 00 03 02 8f 02'],
  ])('returns %s', async (_name, request, expected) => {
    const { client, rejected, stops } = await startWriteServer();
    await expectExchange(client, request, expected);
    expect(rejected).toHaveLength(1);
    expect(stops).toEqual([]);
  });
});

describe('FC23 read/write multiple registers', () => {
  it('writes before it reads', async () => {
    const { client, feedback } = await startWriteServer();
    await expectExchange(
      client,
      '00 40 00 00 00 0d 05 17 00 0a 00 03 00 0c 00 01 02 00 64',
      '00 40 00 00 00 09 05 17 06 00 00 00 00 00 64',
    );
    expect(feedbackValues(feedback)).toEqual([['p1', 'measured_flow', 10]]);
  });

  it.each([
    ['03 for a read quantity of 126', '00 41 00 00 00 0d 05 17 00 00 00 7e 00 0c 00 01 02 00 64', '00 41 00 00 00 03 05 97 03'],
    ['03 for a write quantity of 122', '00 42 00 00 00 0d 05 17 00 00 00 01 00 0c 00 7a 02 00 64', '00 42 00 00 00 03 05 97 03'],
    ['03 for a byte count that does not match', '00 43 00 00 00 0d 05 17 00 00 00 01 00 0c 00 01 04 00 64', '00 43 00 00 00 03 05 97 03'],
    ['02 for a read range outside the map', '00 44 00 00 00 0d 05 17 00 1e 00 01 00 0c 00 01 02 00 64', '00 44 00 00 00 03 05 97 02'],
    ['02 for a write to the read-only setpoint', '00 45 00 00 00 0d 05 17 00 00 00 01 00 02 00 01 02 00 64', '00 45 00 00 00 03 05 97 02'],
  ])('returns %s and stores nothing', async (_name, request, expected) => {
    const { client, feedback } = await startWriteServer();
    await expectExchange(client, request, expected);
    await expectExchange(client, '00 46 00 00 00 06 05 03 00 0c 00 01', '00 46 00 00 00 05 05 03 02 00 00');
    expect(feedback).toEqual([]);
  });
});

describe('write handler failures', () => {
  it('returns 04 when storing feedback throws', async () => {
    const { client } = await startWriteServer({
      onFeedback: () => {
        throw new Error('simulated feedback storage failure');
      },
    });
    await expectExchange(client, '00 50 00 00 00 06 05 06 00 0c 01 f4', '00 50 00 00 00 03 05 86 04');
  });
});

describe('unknown unit ids', () => {
  it('sends no response when configured to stay silent', async () => {
    const { client } = await startWriteServer({ unknownUnitResponse: 'none' });
    client.send(hex('00 60 00 00 00 06 09 03 00 00 00 01'));
    expect(toHex(await client.readAvailable(100))).toBe('');
    await expectExchange(client, '00 61 00 00 00 06 01 03 00 01 00 01', '00 61 00 00 00 05 01 03 02 00 07');
  });
});

describe('read-only emergency-stop coil', () => {
  it('names the coil, not the station setting', () => {
    const image = new RegisterImage();
    const definition = {
      ...MAPPED_STATION,
      register_map: registers([
        { kind: 'holding', address: 0, type: 'uint16', value: 'status_word' },
        { kind: 'coil', address: 4, value: 'emergency_stop', access: 'read_only' },
      ]),
    };
    defineMappedStation(image, definition, makeMappedSnapshot());

    const result = handleRequestPdu(image, MAPPED_UNIT_ID, hex('05 00 04 ff 00'));
    if (result.kind !== 'exception') throw new Error(`expected an exception, got ${result.kind}`);
    expect(toHex(result.pdu)).toBe('85 02');
    expect(result.reason).toMatch(/^coil 4 \(station "mapped-station" register 1 \(coil 4\)\) is read-only$/);
  });
});
