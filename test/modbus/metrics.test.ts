import { afterEach, describe, expect, it } from 'vitest';
import { metricsRegistry } from '../../src/metrics/registry.js';
import type { ModbusTcpServer } from '../../src/modbus/server.js';
import { hex, RawModbusClient, waitUntil } from './raw-client.js';
import { closeAll, startServer } from './server-helpers.js';

const started: ModbusTcpServer[] = [];
const clients: RawModbusClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await closeAll(started);
});

/** Returns the value of one series of the metrics text, or 0 when the series is absent. */
async function sample(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await metricsRegistry.metrics();
  const labelText = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .join(',');
  const line = text.split('\n').find((candidate) => candidate.startsWith(labelText ? `${name}{${labelText}}` : `${name} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Polls until the series has `expected`, because a server-side socket may close after the test's last await. */
async function expectSample(name: string, labels: Record<string, string>, expected: number): Promise<void> {
  const deadline = Date.now() + 2000;
  let value = await sample(name, labels);
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = await sample(name, labels);
  }
  expect(value, name).toBe(expected);
}

describe('Modbus metrics', () => {
  it('counts requests by function code, unit and outcome', async () => {
    const ok = { function_code: '3', unit_id: '1', outcome: 'ok' };
    const unknownUnit = { function_code: '3', unit_id: 'unknown', outcome: 'exception_0b' };
    const otherFunction = { function_code: 'other', unit_id: '1', outcome: 'exception_01' };
    const rejected = { function_code: '6', unit_id: '1', outcome: 'rejected' };
    const before = await Promise.all([ok, unknownUnit, otherFunction, rejected].map((labels) => sample('calejo_modbus_requests_total', labels)));

    const { port } = await startServer(started);
    const client = await RawModbusClient.connect(port);
    clients.push(client);
    await client.request(hex('00 01 00 00 00 06 01 03 00 00 00 01'), 11);
    await client.request(hex('00 02 00 00 00 06 01 03 00 00 00 01'), 11);
    await client.request(hex('00 03 00 00 00 06 c8 03 00 00 00 01'), 9);
    await client.request(hex('00 04 00 00 00 04 01 2b 0e 01'), 9);
    await client.request(hex('00 05 00 00 00 06 01 06 00 00 00 01'), 9);

    const after = await Promise.all([ok, unknownUnit, otherFunction, rejected].map((labels) => sample('calejo_modbus_requests_total', labels)));
    expect(after.map((value, index) => value - (before[index] ?? 0))).toEqual([2, 1, 1, 1]);
  });

  it('counts connections accepted, open and closed', async () => {
    await closeAll(started);
    await expectSample('calejo_modbus_connections', {}, 0);
    const acceptedBefore = await sample('calejo_modbus_connections_accepted_total');
    const closedBefore = await sample('calejo_modbus_connections_closed_total', { reason: 'framing_error' });
    const openBefore = await sample('calejo_modbus_connections');

    const { server, port } = await startServer(started);
    const client = await RawModbusClient.connect(port);
    clients.push(client);
    await waitUntil(() => server.connectionCount === 1, 'one connection');
    await expectSample('calejo_modbus_connections_accepted_total', {}, acceptedBefore + 1);
    await expectSample('calejo_modbus_connections', {}, openBefore + 1);

    client.send(hex('00 01 00 09 00 06 01 03 00 00 00 01'));
    await client.waitForClose();
    await waitUntil(() => server.connectionCount === 0, 'the connection to close');
    await expectSample('calejo_modbus_connections_closed_total', { reason: 'framing_error' }, closedBefore + 1);
    await expectSample('calejo_modbus_connections', {}, openBefore);
  });
});
