import { afterEach, describe, it, expect } from 'vitest';
import { isAdapterError } from '../../src/errors.js';
import { listenFailedError } from '../../src/net/listen-error.js';
import { ModbusTcpServer } from '../../src/modbus/server.js';
import { createCapturingLogger, hex, RawModbusClient, toHex, waitUntil } from './raw-client.js';
import { closeAll, makeTestImage, startServer } from './server-helpers.js';

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

function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`listen ${code}`), { code });
}

describe('ModbusTcpServer listen', () => {
  it('logs the listening address at info', async () => {
    const { port, lines } = await startServer(started);
    const line = lines.find((entry) => entry.msg.startsWith('Modbus TCP server listening'));
    expect(line?.level).toBe('INFO');
    expect(line?.component).toBe('modbus');
    expect(line?.address).toBe('127.0.0.1');
    expect(line?.port).toBe(port);
  });

  it('reports a port in use as LISTEN_FAILED', async () => {
    const { port } = await startServer(started);
    const second = new ModbusTcpServer({ image: makeTestImage(), host: '127.0.0.1', port, logger: createCapturingLogger().logger });
    started.push(second);

    const error: unknown = await second.listen().catch((caught: unknown) => caught);
    expect(isAdapterError(error, 'LISTEN_FAILED')).toBe(true);
    expect((error as Error).message).toBe(
      `Modbus TCP server failed to listen on 127.0.0.1:${port} because the port is in use. Stop the other process or set MODBUS_PORT to a free port.`,
    );
    expect(second.connectionCount).toBe(0);
  });
});

describe('listenFailedError', () => {
  it('explains EACCES on a privileged port', () => {
    const error = listenFailedError(errnoError('EACCES'), '0.0.0.0', 502);
    expect(error.code).toBe('LISTEN_FAILED');
    expect(error.message).toBe(
      'Modbus TCP server failed to listen on 0.0.0.0:502 because ports below 1024 need root or CAP_NET_BIND_SERVICE. Run as root or set MODBUS_PORT to a port of 1024 or higher, such as 1502.',
    );
    expect(error.message).not.toContain('\n');
  });

  it('keeps the system message for EACCES on a high port', () => {
    const error = listenFailedError(errnoError('EACCES'), '0.0.0.0', 1502);
    expect(error.message).toBe('Modbus TCP server failed to listen on 0.0.0.0:1502: listen EACCES');
  });

  it('keeps the cause and the address', () => {
    const cause = errnoError('EADDRNOTAVAIL');
    const error = listenFailedError(cause, '192.0.2.1', 1502);
    expect(error.cause).toBe(cause);
    expect(error.details).toEqual({ host: '192.0.2.1', port: 1502 });
  });
});

describe('ModbusTcpServer connections', () => {
  it('closes clients beyond maxConnections', async () => {
    const { server, port, lines } = await startServer(started, { maxConnections: 2 });
    // Both have sent a frame, so neither may be evicted for the newcomer.
    for (const client of [await connect(port), await connect(port)]) await client.request(hex('00 01 00 00 00 06 01 03 00 01 00 01'), 11);
    await waitUntil(() => server.connectionCount === 2, 'two connections');

    const third = await connect(port);
    await third.waitForClose();
    expect(server.connectionCount).toBe(2);
    expect(lines.find((line) => line.level === 'WARNING')?.msg).toMatch(/connection limit/);
  });

  it('accepts a client again after one leaves', async () => {
    const { server, port } = await startServer(started, { maxConnections: 1 });
    const first = await connect(port);
    await waitUntil(() => server.connectionCount === 1, 'one connection');
    first.close();
    await waitUntil(() => server.connectionCount === 0, 'the connection to be removed');

    const second = await connect(port);
    const response = await second.request(hex('00 01 00 00 00 06 01 03 00 01 00 01'), 11);
    expect(toHex(response)).toBe('00 01 00 00 00 05 01 03 02 00 07');
  });

  it('closes an idle client', async () => {
    const { server, port, lines } = await startServer(started, { idleTimeoutMs: 100 });
    const client = await connect(port);
    const startedAt = Date.now();

    await client.waitForClose();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(90);
    await waitUntil(() => server.connectionCount === 0, 'the idle connection to be removed');
    expect(lines.find((line) => line.msg === 'closing idle Modbus client')?.idle_timeout_ms).toBe(100);
  });

  it('keeps a polling client past the idle timeout', async () => {
    const { port } = await startServer(started, { idleTimeoutMs: 150 });
    const client = await connect(port);
    for (let poll = 0; poll < 6; poll += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await client.request(hex('00 01 00 00 00 06 01 03 00 00 00 01'), 11);
    }
    expect(client.isClosed).toBe(false);
  });

  it('disconnects every client on close', async () => {
    const { server, port } = await startServer(started);
    const first = await connect(port);
    const second = await connect(port);
    await waitUntil(() => server.connectionCount === 2, 'two connections');

    await server.close();
    await first.waitForClose();
    await second.waitForClose();
    expect(server.connectionCount).toBe(0);
    await expect(RawModbusClient.connect(port)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('closes without having listened', async () => {
    const server = new ModbusTcpServer({ image: makeTestImage(), host: '127.0.0.1', port: 0, logger: createCapturingLogger().logger });
    await expect(server.close()).resolves.toBeUndefined();
  });

  it.each([
    [{ maxConnections: 0 }, /invalid maxConnections 0/],
    [{ maxConnections: 1.5 }, /invalid maxConnections 1.5/],
    [{ idleTimeoutMs: 0 }, /invalid idleTimeoutMs 0/],
  ])('rejects option %o', (options, message) => {
    const create = (): ModbusTcpServer =>
      new ModbusTcpServer({ image: makeTestImage(), host: '127.0.0.1', port: 0, logger: createCapturingLogger().logger, ...options });
    expect(create).toThrow(message);
  });
});
