/**
 * Entry point of one benchmark server process, started by ServerProcess in server-process.ts.
 * argv[2] selects the server: "adapter" for the adapter's ModbusTcpServer, "raw" for RawModbusServer.
 * It listens on an ephemeral port of 127.0.0.1, reports the port over IPC, replies to CPU-usage
 * requests, and exits on a stop message or when the parent's IPC channel closes, so it never
 * outlives the benchmark.
 */
import { createLogger } from '../../src/log.js';
import { RegisterImage } from '../../src/modbus/register-image.js';
import { ModbusTcpServer } from '../../src/modbus/server.js';
import { BENCH_REGISTER_COUNTS, makeBenchStation, prepareExchange } from './fixture.js';
import { RawModbusServer } from './raw-server.js';
import { isServerTarget, type ParentMessage, type ServerMessage } from './server-process.js';

const HOST = '127.0.0.1';

interface StartedServer {
  port: number;
  close: () => Promise<void>;
}

async function startAdapterServer(): Promise<StartedServer> {
  const image = new RegisterImage();
  image.setStation(makeBenchStation());
  const server = new ModbusTcpServer({ image, host: HOST, port: 0, logger: createLogger({ level: 'silent' }) });
  const { port } = await server.listen();
  return { port, close: () => server.close() };
}

async function startRawServer(): Promise<StartedServer> {
  const server = new RawModbusServer(BENCH_REGISTER_COUNTS.map((count) => prepareExchange(count)));
  const port = await server.listen(HOST);
  return { port, close: () => server.close() };
}

function send(message: ServerMessage): void {
  process.send?.(message);
}

const target = process.argv[2];
if (!process.send) {
  throw new Error('server-main.ts must be started by the benchmark through child_process.fork, because it reports its port over IPC');
}
if (!isServerTarget(target)) {
  throw new Error(`invalid server target "${target}": use "adapter" or "raw"`);
}

const server = target === 'adapter' ? await startAdapterServer() : await startRawServer();

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.close();
  if (process.connected) process.disconnect();
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'cpu-usage') {
    send({ type: 'cpu-usage', usage: process.cpuUsage() });
  } else if (message.type === 'stop') {
    void stop();
  }
});
process.on('disconnect', () => void stop());

send({ type: 'listening', port: server.port });
