import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModbusTcpServer } from '../../src/modbus/server.js';
import { hex, RawModbusClient, toHex, waitUntil } from './raw-client.js';
import { closeAll, startServer } from './server-helpers.js';

const started: ModbusTcpServer[] = [];
const clients: RawModbusClient[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const client of clients.splice(0)) client.close();
  await closeAll(started);
});

async function connect(port: number): Promise<RawModbusClient> {
  const client = await RawModbusClient.connect(port);
  clients.push(client);
  return client;
}

const READ_STATUS_BLOCK = '00 00 00 00 00 06 01 03 00 00 00 0a';
const STATUS_BLOCK_RESPONSE = '00 00 00 00 00 17 01 03 14 00 04 00 07 00 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00';

/** Reads the status block `count` times in a row and returns each round trip in ms. Throws on the first wrong response. */
async function measureReads(client: RawModbusClient, count: number): Promise<number[]> {
  const latencies: number[] = [];
  const request = hex(READ_STATUS_BLOCK);
  const expected = STATUS_BLOCK_RESPONSE.slice(5);
  for (let index = 0; index < count; index += 1) {
    request.writeUInt16BE(index & 0xffff, 0);
    const startedAt = performance.now();
    const response = await client.request(request, 29);
    latencies.push(performance.now() - startedAt);
    if (response.readUInt16BE(0) !== (index & 0xffff) || toHex(response).slice(5) !== expected) {
      throw new Error(`read ${index} returned ${toHex(response)}`);
    }
  }
  return latencies;
}

function p99(latencies: number[]): number {
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length * 0.99)] ?? Number.NaN;
}

/**
 * A separate process that keeps four connections busy with malformed input: unsupported function
 * codes, PDUs of the wrong length, byte counts that do not match and frames cut short. Now and
 * then it sends a bad protocol id, so the server closes the connection and the attacker opens a
 * new one. On SIGTERM it prints how many connections it opened and bytes it received.
 */
const ATTACKER = `
const net = require('node:net');
const port = Number(process.argv[1]);
const garbage = [
  '00 01 00 00 00 03 01 2b 0e', '00 02 00 00 00 03 01 03 00', '00 03 00 00 00 05 09 10 00 00',
  '00 04 00 00 00 0a 01 10 00 00 00 02 09 00 01 00', '00 05 00 00 00 02 01 41', '00 06 00 00 00 06 01 05 00 00 12 34',
  '00 07 00 00 00 06 01 06 00 00 00 01', '00 08 00 00 00 08 01 0f 00 00 00 10 05 ff',
].map((text) => Buffer.from(text.replace(/ /g, ''), 'hex'));
const truncated = Buffer.from('000900000006010300', 'hex');
const badProtocol = Buffer.from('000a00070006010300000001', 'hex');
let connections = 0;
let received = 0;
function batch() {
  const parts = [];
  for (let i = 0; i < 20; i += 1) parts.push(garbage[Math.floor(Math.random() * garbage.length)]);
  const roll = Math.random();
  if (roll < 0.1) parts.push(badProtocol);
  else if (roll < 0.2) parts.push(truncated);
  return Buffer.concat(parts);
}
function attack() {
  connections += 1;
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.on('data', (chunk) => { received += chunk.length; });
  socket.on('close', () => setTimeout(attack, 1));
  const send = () => { if (!socket.destroyed) socket.write(batch(), () => setTimeout(send, 1)); };
  socket.on('connect', send);
}
for (let i = 0; i < 4; i += 1) attack();
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify({ connections, received }) + '\\n', () => process.exit(0)); });
process.stdout.write('ready\\n');
`;

async function startAttacker(port: number): Promise<{ stop: () => Promise<{ connections: number; received: number }> }> {
  const child = spawn(process.execPath, ['-e', ATTACKER, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  await waitUntil(() => stdout.includes('ready'), 'the attacker to start', 10_000);
  return {
    async stop() {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(stdout.split('\n')[1] ?? '{}') as { connections: number; received: number };
    },
  };
}

describe('Modbus server under malformed input', () => {
  it('keeps a reader fast while another client sends garbage', async () => {
    const { port } = await startServer(started, { maxConnections: 50 });
    const reader = await connect(port);
    await measureReads(reader, 300);

    const baseline = await measureReads(reader, 2000);
    const attacker = await startAttacker(port);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const underAttack = await measureReads(reader, 2000);
    const attack = await attacker.stop();

    // The attack ran: connections were closed for bad frames and exception responses came back.
    expect(attack.connections).toBeGreaterThan(4);
    expect(attack.received).toBeGreaterThan(1000);
    expect(reader.isClosed).toBe(false);
    // Generous, because the attacker takes CPU from the server on a shared 2-core machine: the
    // p99 may grow by the attacker's share of the CPU, not by a queue behind the garbage.
    const bound = Math.max(5 * p99(baseline), p99(baseline) + 5);
    expect(p99(underAttack), `p99 ${p99(underAttack).toFixed(3)} ms under attack, baseline ${p99(baseline).toFixed(3)} ms`).toBeLessThan(bound);
  }, 60_000);

  it('forgets a client that disconnects mid-request', async () => {
    const { server, port, lines } = await startServer(started);
    const client = await connect(port);
    client.send(hex('00 01 00 00 00 06 01 03 00'));
    await waitUntil(() => server.connectionCount === 1, 'the connection');
    client.close();
    await waitUntil(() => server.connectionCount === 0, 'the connection to be removed');
    expect(lines.filter((line) => line.level === 'ERROR' || line.level === 'WARNING')).toEqual([]);
  });

  it('serves 300 simultaneous clients', async () => {
    const { server, port } = await startServer(started, { maxConnections: 400, maxConnectionsPerAddress: 400 });
    const many = await Promise.all(Array.from({ length: 300 }, () => connect(port)));
    await waitUntil(() => server.connectionCount === 300, '300 connections', 10_000);
    const responses = await Promise.all(many.map((client) => client.request(hex('00 01 00 00 00 06 01 03 00 01 00 01'), 11)));
    expect(new Set(responses.map(toHex))).toEqual(new Set(['00 01 00 00 00 05 01 03 02 00 07']));
  }, 30_000);
});

describe('Modbus server connection limits', () => {
  it('evicts an idle client so a new one can read', async () => {
    const { server, port, lines } = await startServer(started, { maxConnections: 100, maxConnectionsPerAddress: 200, evictionIdleMs: 50 });
    const idle = await Promise.all(Array.from({ length: 100 }, () => connect(port)));
    await waitUntil(() => server.connectionCount === 100, '100 connections', 10_000);
    await new Promise((resolve) => setTimeout(resolve, 60));

    const newcomer = await connect(port);
    const response = await newcomer.request(hex('00 01 00 00 00 06 01 03 00 01 00 01'), 11);
    expect(toHex(response)).toBe('00 01 00 00 00 05 01 03 02 00 07');
    await waitUntil(() => idle.filter((client) => client.isClosed).length === 1, 'one idle client to be closed');
    expect(server.connectionCount).toBe(100);
    expect(lines.find((line) => line.msg.startsWith('evicting the longest idle'))?.sent_frame).toBe(false);
  }, 30_000);

  it('evicts a client that never sent a frame before one that polls', async () => {
    const { server, port } = await startServer(started, { maxConnections: 2, evictionIdleMs: 0 });
    const poller = await connect(port);
    await poller.request(hex('00 01 00 00 00 06 01 03 00 01 00 01'), 11);
    const silent = await connect(port);
    await waitUntil(() => server.connectionCount === 2, 'two connections');

    await connect(port);
    await silent.waitForClose();
    expect(poller.isClosed).toBe(false);
  });

  it('keeps a poller while new silent clients keep arriving', async () => {
    // Silent newcomers are younger than evictionIdleMs, so only silent connections may make room.
    const { server, port } = await startServer(started, { maxConnections: 3, maxConnectionsPerAddress: 100, evictionIdleMs: 60_000 });
    const pollers = await Promise.all([connect(port), connect(port)]);
    for (const poller of pollers) await poller.request(hex('00 01 00 00 00 06 01 03 00 01 00 01'), 11);
    for (let wave = 0; wave < 5; wave += 1) {
      await connect(port);
      await waitUntil(() => server.connectionCount === 3, 'three connections');
    }
    for (const poller of pollers) {
      expect(poller.isClosed).toBe(false);
      expect(toHex(await poller.request(hex('00 02 00 00 00 06 01 03 00 01 00 01'), 11))).toBe('00 02 00 00 00 05 01 03 02 00 07');
    }
  });

  it('rejects a newcomer when every client is active', async () => {
    const { server, port, lines } = await startServer(started, { maxConnections: 1, evictionIdleMs: 60_000 });
    const first = await connect(port);
    await first.request(hex('00 01 00 00 00 06 01 03 00 01 00 01'), 11);
    await waitUntil(() => server.connectionCount === 1, 'one connection');
    const second = await connect(port);
    await second.waitForClose();
    expect(first.isClosed).toBe(false);
    expect(lines.find((line) => line.level === 'WARNING')?.msg).toMatch(/connection limit is reached/);
  });

  it('limits connections per address', async () => {
    const { server, port, lines } = await startServer(started, { maxConnectionsPerAddress: 3 });
    await Promise.all([connect(port), connect(port), connect(port)]);
    await waitUntil(() => server.connectionCount === 3, 'three connections');
    const fourth = await connect(port);
    await fourth.waitForClose();
    expect(server.connectionCount).toBe(3);
    expect(lines.find((line) => line.level === 'WARNING')?.max_connections_per_address).toBe(3);
  });

  it('closes a client that sends no complete frame in time', async () => {
    const { server, port, lines } = await startServer(started, { firstFrameTimeoutMs: 100 });
    const silent = await connect(port);
    const partial = await connect(port);
    partial.send(hex('00 01 00 00 00 06 01'));
    const active = await connect(port);
    await active.request(hex('00 01 00 00 00 06 01 03 00 01 00 01'), 11);

    await silent.waitForClose();
    await partial.waitForClose();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(active.isClosed).toBe(false);
    expect(server.connectionCount).toBe(1);
    expect(lines.filter((line) => line.msg.startsWith('closing Modbus client that sent no complete frame'))).toHaveLength(2);
  });

  it.each([
    [{ maxConnectionsPerAddress: 0 }, /invalid maxConnectionsPerAddress 0/],
    [{ firstFrameTimeoutMs: 0 }, /invalid firstFrameTimeoutMs 0/],
    [{ evictionIdleMs: -1 }, /invalid evictionIdleMs -1/],
  ])('rejects option %o', async (options, message) => {
    await expect(startServer(started, options)).rejects.toThrow(message);
  });
});
