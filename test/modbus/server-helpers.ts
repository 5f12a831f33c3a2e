import { ModbusTcpServer, type ModbusServerOptions } from '../../src/modbus/server.js';
import { RegisterImage } from '../../src/modbus/register-image.js';
import { createCapturingLogger, type LogLine } from './raw-client.js';
import { makePump, makeStation } from './station-fixture.js';

/**
 * Unit 1: heartbeat 7, failsafe active, two pumps, coil writes allowed.
 * Pump 1 publishes 42.5 in [20, 50] from the plan, pump 2 publishes 30.25 as failsafe.
 * Unit 2: one pump, coil writes not allowed.
 */
export function makeTestImage(): RegisterImage {
  const image = new RegisterImage();
  image.defineStation(1, { allowEmergencyStopCoil: true });
  image.setStation(makeUnitOne());
  image.setStation(makeStation({ unitId: 2, stationId: 'station-2' }));
  return image;
}

export function makeUnitOne(overrides: Parameters<typeof makeStation>[0] = {}): ReturnType<typeof makeStation> {
  return makeStation({
    unitId: 1,
    heartbeat: 7,
    failsafeActive: true,
    pumps: [
      makePump({ pumpId: 'pump-1', setpoint: 42.5, mode: 'plan' }),
      makePump({ pumpId: 'pump-2', setpoint: 30.25, mode: 'failsafe', planValue: null }),
    ],
    ...overrides,
  });
}

export interface StartedServer {
  server: ModbusTcpServer;
  port: number;
  image: RegisterImage;
  lines: LogLine[];
}

/** Starts a server on an ephemeral port of 127.0.0.1 and registers it in `started` for cleanup. */
export async function startServer(started: ModbusTcpServer[], options: Partial<ModbusServerOptions> = {}): Promise<StartedServer> {
  const { logger, lines } = createCapturingLogger();
  const image = options.image ?? makeTestImage();
  const server = new ModbusTcpServer({ image, host: '127.0.0.1', port: 0, logger, ...options });
  started.push(server);
  const { port } = await server.listen();
  return { server, port, image, lines };
}

export async function closeAll(started: ModbusTcpServer[]): Promise<void> {
  await Promise.all(started.splice(0).map((server) => server.close()));
}
