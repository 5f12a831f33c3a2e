import { afterEach, describe, it, expect } from 'vitest';
import type { RegisterRead } from '../../src/modbus/register-image.js';
import { RegisterImage } from '../../src/modbus/register-image.js';
import type { ModbusTcpServer } from '../../src/modbus/server.js';
import { hex, RawModbusClient, toHex, waitUntil } from './raw-client.js';
import { closeAll, makeTestImage, makeUnitOne, startServer } from './server-helpers.js';

const started: ModbusTcpServer[] = [];
const clients: RawModbusClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await closeAll(started);
});

async function connect(port: number): Promise<RawModbusClient> {
  const client = await RawModbusClient.connect(port);
  clients.push(client);
  return client;
}

/** Sends `request` and checks that the response bytes equal `expected` exactly. */
async function expectExchange(client: RawModbusClient, request: string, expected: string): Promise<void> {
  const response = await client.request(hex(request), hex(expected).length);
  expect(toHex(response)).toBe(toHex(hex(expected)));
}

const PUMP_ONE_BLOCK = '42 2a 00 00  00 00  41 a0 00 00  42 48 00 00  01 a9  00 00 00 00';
const PUMP_TWO_BLOCK = '41 f2 00 00  00 02  41 a0 00 00  42 48 00 00  01 2f  00 00 00 00';

describe('Modbus server reads', () => {
  it('returns status word, heartbeat and pump count with FC3', async () => {
    const { port } = await startServer(started);
    const client = await connect(port);
    await expectExchange(client, '00 01 00 00 00 06 01 03 00 00 00 03', '00 01 00 00 00 09 01 03 06 00 04 00 07 00 02');
  });

  it('returns pump blocks with FC3', async () => {
    const { port } = await startServer(started);
    const client = await connect(port);
    await expectExchange(client, '00 02 00 00 00 06 01 03 00 0a 00 0a', `00 02 00 00 00 17 01 03 14 ${PUMP_ONE_BLOCK}`);
    await expectExchange(client, '00 03 00 00 00 06 01 03 00 14 00 0a', `00 03 00 00 00 17 01 03 14 ${PUMP_TWO_BLOCK}`);
  });

  it('returns the same registers with FC4', async () => {
    const { port } = await startServer(started);
    const client = await connect(port);
    await expectExchange(client, 'ff fe 00 00 00 06 01 04 00 0a 00 0a', `ff fe 00 00 00 17 01 04 14 ${PUMP_ONE_BLOCK}`);
  });

  it('returns the emergency-stop coil with FC1', async () => {
    const { port, image } = await startServer(started);
    const client = await connect(port);
    await expectExchange(client, '00 04 00 00 00 06 01 01 00 00 00 01', '00 04 00 00 00 04 01 01 01 00');

    image.setStation(makeUnitOne({ emergencyStopActive: true }));
    await expectExchange(client, '00 05 00 00 00 06 01 01 00 00 00 01', '00 05 00 00 00 04 01 01 01 01');
  });

  it('serves a new snapshot on the next request', async () => {
    const { port, image } = await startServer(started);
    const client = await connect(port);
    image.setStation(makeUnitOne({ emergencyStopActive: true, heartbeat: 8 }));
    await expectExchange(client, '00 06 00 00 00 06 01 03 00 00 00 02', '00 06 00 00 00 07 01 03 04 00 05 00 08');
  });
});

describe('Modbus server exception responses', () => {
  const cases: Array<[string, string, string]> = [
    ['01 for an unsupported function code', '00 10 00 00 00 04 01 2b 0e 01', '00 10 00 00 00 03 01 ab 01'],
    ['02 for a write to the read-only status word', '00 11 00 00 00 09 01 10 00 00 00 01 02 00 01', '00 11 00 00 00 03 01 90 02'],
    ['02 for a range past the map', '00 12 00 00 00 06 01 03 00 1c 00 05', '00 12 00 00 00 03 01 83 02'],
    ['02 for FC4 past the map', '00 13 00 00 00 06 01 04 00 1e 00 01', '00 13 00 00 00 03 01 84 02'],
    ['03 for a quantity of 0', '00 14 00 00 00 06 01 03 00 00 00 00', '00 14 00 00 00 03 01 83 03'],
    ['03 for a quantity of 126', '00 15 00 00 00 06 01 03 00 00 00 7e', '00 15 00 00 00 03 01 83 03'],
    ['03 for a coil quantity of 2001', '00 16 00 00 00 06 01 01 00 00 07 d1', '00 16 00 00 00 03 01 81 03'],
    ['0B for an unknown unit id', '00 17 00 00 00 06 09 03 00 00 00 01', '00 17 00 00 00 03 09 83 0b'],
  ];

  it.each(cases)('returns %s', async (_name, request, expected) => {
    const { port } = await startServer(started);
    const client = await connect(port);
    await expectExchange(client, request, expected);
  });

  it('returns 04 when a handler throws', async () => {
    class FailingImage extends RegisterImage {
      override readHolding(): RegisterRead {
        throw new Error('simulated register image failure');
      }
      override readInput(): RegisterRead {
        throw new Error('simulated register image failure');
      }
    }
    const image = new FailingImage();
    image.setStation(makeUnitOne());
    const { port, lines } = await startServer(started, { image });
    const client = await connect(port);

    await expectExchange(client, '00 18 00 00 00 06 01 03 00 00 00 01', '00 18 00 00 00 03 01 83 04');
    await expectExchange(client, '00 19 00 00 00 06 01 04 00 00 00 01', '00 19 00 00 00 03 01 84 04');
    const errors = lines.filter((line) => line.level === 'ERROR');
    expect(errors).toHaveLength(2);
    expect(errors[0]?.msg).toMatch(/exception 04/);
    expect(errors[0]?.err).toMatchObject({ message: 'simulated register image failure' });
  });
});

describe('Modbus server emergency-stop coil', () => {
  it('calls the handler and echoes an ON write', async () => {
    const calls: Array<{ unitId: number; remoteAddress: string }> = [];
    const { port } = await startServer(started, { onEmergencyStopCoil: (request) => void calls.push(request) });
    const client = await connect(port);

    await expectExchange(client, '00 20 00 00 00 06 01 05 00 00 ff 00', '00 20 00 00 00 06 01 05 00 00 ff 00');
    expect(calls).toEqual([{ unitId: 1, remoteAddress: '127.0.0.1' }]);
  });

  it('rejects an OFF write with 03 and logs a warning', async () => {
    const calls: unknown[] = [];
    const { port, lines } = await startServer(started, { onEmergencyStopCoil: (request) => void calls.push(request) });
    const client = await connect(port);

    await expectExchange(client, '00 21 00 00 00 06 01 05 00 00 00 00', '00 21 00 00 00 03 01 85 03');
    expect(calls).toEqual([]);
    const warning = lines.find((line) => line.level === 'WARNING');
    expect(warning?.remote_address).toBe('127.0.0.1');
    expect(warning?.reason).toMatch(/never allowed/);
  });

  it('rejects an ON write with 02 where the station forbids it', async () => {
    const calls: unknown[] = [];
    const { port } = await startServer(started, { onEmergencyStopCoil: (request) => void calls.push(request) });
    const client = await connect(port);

    await expectExchange(client, '00 22 00 00 00 06 02 05 00 00 ff 00', '00 22 00 00 00 03 02 85 02');
    expect(calls).toEqual([]);
  });

  it('returns 04 when the handler throws', async () => {
    const { port, lines } = await startServer(started, {
      onEmergencyStopCoil: () => {
        throw new Error('simulated stop failure');
      },
    });
    const client = await connect(port);

    await expectExchange(client, '00 23 00 00 00 06 01 05 00 00 ff 00', '00 23 00 00 00 03 01 85 04');
    expect(lines.find((line) => line.level === 'ERROR')?.err).toMatchObject({ message: 'simulated stop failure' });
  });

  it('returns 04 when the handler rejects', async () => {
    const { port } = await startServer(started, { onEmergencyStopCoil: () => Promise.reject(new Error('simulated database failure')) });
    const client = await connect(port);
    await expectExchange(client, '00 24 00 00 00 06 01 05 00 00 ff 00', '00 24 00 00 00 03 01 85 04');
  });

  it('returns 04 when no handler is configured', async () => {
    const { port } = await startServer(started);
    const client = await connect(port);
    await expectExchange(client, '00 25 00 00 00 06 01 05 00 00 ff 00', '00 25 00 00 00 03 01 85 04');
  });

  it('responds in order after an async handler', async () => {
    let finishStop: () => void = () => undefined;
    const { port } = await startServer(started, {
      onEmergencyStopCoil: () => new Promise<void>((resolve) => (finishStop = resolve)),
    });
    const client = await connect(port);

    client.send(Buffer.concat([hex('00 26 00 00 00 06 01 05 00 00 ff 00'), hex('00 27 00 00 00 06 01 03 00 01 00 01')]));
    expect(toHex(await client.readAvailable(50))).toBe('');

    finishStop();
    expect(toHex(await client.read(12))).toBe('00 26 00 00 00 06 01 05 00 00 ff 00');
    expect(toHex(await client.read(11))).toBe('00 27 00 00 00 05 01 03 02 00 07');
  });

  it('shows the stop to a read in the same segment', async () => {
    const image = makeTestImage();
    const { port } = await startServer(started, {
      image,
      onEmergencyStopCoil: async () => {
        image.setStation(makeUnitOne({ emergencyStopActive: true }));
        await new Promise((resolve) => setTimeout(resolve, 20));
      },
    });
    const client = await connect(port);

    client.send(Buffer.concat([hex('00 28 00 00 00 06 01 05 00 00 ff 00'), hex('00 29 00 00 00 06 01 03 00 00 00 01')]));
    expect(toHex(await client.read(12))).toBe('00 28 00 00 00 06 01 05 00 00 ff 00');
    expect(toHex(await client.read(11))).toBe('00 29 00 00 00 05 01 03 02 00 05');
  });
});

describe('Modbus server framing', () => {
  it('responds to a frame split across two writes', async () => {
    const { port } = await startServer(started);
    const client = await connect(port);
    const request = hex('00 30 00 00 00 06 01 03 00 02 00 01');

    client.send(request.subarray(0, 5));
    expect(toHex(await client.readAvailable(30))).toBe('');
    client.send(request.subarray(5));
    expect(toHex(await client.read(11))).toBe('00 30 00 00 00 05 01 03 02 00 02');
  });

  it('responds to two frames in one write', async () => {
    const { port } = await startServer(started);
    const client = await connect(port);

    client.send(Buffer.concat([hex('00 31 00 00 00 06 01 03 00 01 00 01'), hex('00 32 00 00 00 06 09 03 00 00 00 01')]));
    expect(toHex(await client.read(11))).toBe('00 31 00 00 00 05 01 03 02 00 07');
    expect(toHex(await client.read(9))).toBe('00 32 00 00 00 03 09 83 0b');
  });

  it('responds to 500 pipelined requests in order', async () => {
    const { port } = await startServer(started);
    const client = await connect(port);
    const requests = Array.from({ length: 500 }, (_, index) => {
      const request = hex('00 00 00 00 00 06 01 03 00 01 00 01');
      request.writeUInt16BE(index, 0);
      return request;
    });

    client.send(Buffer.concat(requests));
    const responses = await client.read(500 * 11);
    for (let index = 0; index < 500; index += 1) {
      const response = responses.subarray(index * 11, index * 11 + 11);
      expect(response.readUInt16BE(0), `transaction id of response ${index}`).toBe(index);
      expect(toHex(response.subarray(2)), `response ${index}`).toBe('00 00 00 05 01 03 02 00 07');
    }
  });

  it('disconnects a client with a bad protocol id and serves others', async () => {
    const { server, port, lines } = await startServer(started);
    const goodClient = await connect(port);
    const badClient = await connect(port);
    await waitUntil(() => server.connectionCount === 2, 'two connections');

    badClient.send(hex('00 33 00 01 00 06 01 03 00 00 00 01'));
    await badClient.waitForClose();
    expect(toHex(await badClient.readAvailable(0))).toBe('');

    await expectExchange(goodClient, '00 34 00 00 00 06 01 03 00 02 00 01', '00 34 00 00 00 05 01 03 02 00 02');
    await waitUntil(() => server.connectionCount === 1, 'the bad connection to be removed');
    const warning = lines.find((line) => line.level === 'WARNING');
    expect(warning?.remote_address).toBe('127.0.0.1');
    expect(warning?.reason).toMatch(/protocol id 1/);
  });

  it.each([
    ['length 1', '00 35 00 00 00 01 01'],
    ['length 255', '00 36 00 00 00 ff 01 03'],
  ])('disconnects a client sending %s', async (_name, request) => {
    const { port } = await startServer(started);
    const client = await connect(port);
    client.send(hex(request));
    await client.waitForClose();
  });
});
