import { AdapterError } from '../errors.js';

/** Lowest port that Linux lets an unprivileged process bind. */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** Converts a listen error into LISTEN_FAILED with a one-line message that names the fix. */
export function listenFailedError(error: NodeJS.ErrnoException, host: string, port: number): AdapterError {
  const target = `${host}:${port}`;
  const options = { cause: error, details: { host, port } };

  if (error.code === 'EACCES' && port < FIRST_UNPRIVILEGED_PORT) {
    return new AdapterError(
      'LISTEN_FAILED',
      `Modbus TCP server failed to listen on ${target} because ports below 1024 need root or CAP_NET_BIND_SERVICE. Run as root or set MODBUS_PORT to a port of 1024 or higher, such as 1502.`,
      options,
    );
  }
  if (error.code === 'EADDRINUSE') {
    return new AdapterError(
      'LISTEN_FAILED',
      `Modbus TCP server failed to listen on ${target} because the port is in use. Stop the other process or set MODBUS_PORT to a free port.`,
      options,
    );
  }
  return new AdapterError('LISTEN_FAILED', `Modbus TCP server failed to listen on ${target}: ${error.message}`, options);
}
