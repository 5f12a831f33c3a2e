import { afterEach, beforeAll, describe, it, expect } from 'vitest';
import type { ModbusTcpServer } from '../../src/modbus/server.js';
import { closeAll, makeTestImage, makeUnitOne, startServer } from './server-helpers.js';
import { makePump } from './station-fixture.js';
import { checkMbpollInstalled, runMbpoll } from './mbpoll-client.js';

/**
 * Interoperability with a real client: Debian's mbpoll, which is built on libmodbus.
 * mbpoll must run asynchronously, because a synchronous child process would block the event loop
 * in which the server under test responds.
 */

const started: ModbusTcpServer[] = [];

beforeAll(checkMbpollInstalled);

afterEach(async () => {
  await closeAll(started);
});

describe('mbpoll reads', () => {
  it('reads 20 holding registers of unit 1', async () => {
    const { port } = await startServer(started);
    const result = await runMbpoll(port, ['-a', '1', '-r', '1', '-c', '20']);

    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.values.size).toBe(20);
    expect(result.values.get(1), 'status word: failsafe active').toBe('4');
    expect(result.values.get(2), 'heartbeat').toBe('7');
    expect(result.values.get(3), 'pump count').toBe('2');
    expect(result.values.get(11), 'pump 1 setpoint high word').toBe(String(0x422a));
    expect(result.values.get(13), 'pump 1 mode code').toBe('0');
    expect(result.values.get(18), 'pump 1 setpoint × 10').toBe('425');
  });

  it('reads the setpoint as a big-endian float32', async () => {
    const { port } = await startServer(started);
    const result = await runMbpoll(port, ['-a', '1', '-r', '21', '-c', '1', '-t', '4:float', '-B']);

    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.values.get(21)).toBe('30.25');
  });

  it('prints a negative setpoint × 10 in two’s complement', async () => {
    const image = makeTestImage();
    image.setStation(
      makeUnitOne({
        pumps: [makePump({ setpoint: -12.34, minimum: -20 }), makePump({ setpoint: -5000, minimum: -5000 })],
      }),
    );
    const { port } = await startServer(started, { image });
    const result = await runMbpoll(port, ['-a', '1', '-r', '18', '-c', '11']);

    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.values.get(18), 'pump 1 setpoint × 10').toBe('65413 (-123)');
    expect(result.values.get(28), 'pump 2 setpoint × 10, saturated').toBe('32768 (-32768)');
  });

  it('reads input registers and the coil', async () => {
    const image = makeTestImage();
    image.setStation(makeUnitOne({ emergencyStopActive: true }));
    const { port } = await startServer(started, { image });

    const registers = await runMbpoll(port, ['-a', '1', '-r', '1', '-c', '1', '-t', '3:hex']);
    expect(registers.values.get(1)).toBe('0x0005');
    const coil = await runMbpoll(port, ['-a', '1', '-r', '1', '-c', '1', '-t', '0']);
    expect(coil.values.get(1)).toBe('1');
  });

  it('reports an unknown unit id as a gateway failure', async () => {
    const { port } = await startServer(started);
    const result = await runMbpoll(port, ['-a', '9', '-r', '1', '-c', '1']);

    expect(result.exitCode).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/Target device failed to respond/);
  });

  it('reports a range past the map as an illegal data address', async () => {
    const { port } = await startServer(started);
    const result = await runMbpoll(port, ['-a', '1', '-r', '30', '-c', '2']);

    expect(result.exitCode).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/Illegal data address/);
  });
});

describe('mbpoll coil writes', () => {
  it('activates the emergency stop by writing 1 to coil 1', async () => {
    const calls: Array<{ unitId: number; remoteAddress: string }> = [];
    const { port } = await startServer(started, { onEmergencyStopCoil: (request) => void calls.push(request) });
    const result = await runMbpoll(port, ['-a', '1', '-r', '1', '-t', '0'], ['1']);

    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Written 1 references/);
    expect(calls).toEqual([{ unitId: 1, remoteAddress: '127.0.0.1' }]);
  });

  it('rejects writing 0 to coil 1', async () => {
    const calls: unknown[] = [];
    const { port } = await startServer(started, { onEmergencyStopCoil: (request) => void calls.push(request) });
    const result = await runMbpoll(port, ['-a', '1', '-r', '1', '-t', '0'], ['0']);

    expect(result.exitCode).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/Illegal data value/);
    expect(calls).toEqual([]);
  });

  it('rejects the coil on a station that forbids it', async () => {
    const { port } = await startServer(started, { onEmergencyStopCoil: () => undefined });
    const result = await runMbpoll(port, ['-a', '2', '-r', '1', '-t', '0'], ['1']);

    expect(result.exitCode).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/Illegal data address/);
  });
});
