import { AdapterError } from '../errors.js';

/** Lowest port that Linux lets an unprivileged process bind. */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** Name of a listening server and the environment variable that sets its port. */
export interface ListenerIdentity {
  server: string;
  portVariable: string;
  /** An unprivileged port suggested when the configured one needs root. */
  suggestedPort: number;
}

export const MODBUS_LISTENER: ListenerIdentity = { server: 'Modbus TCP server', portVariable: 'MODBUS_PORT', suggestedPort: 1502 };
export const HTTP_LISTENER: ListenerIdentity = { server: 'REST API', portVariable: 'HTTP_PORT', suggestedPort: 8080 };

/** Converts a listen error into LISTEN_FAILED with a one-line message that names the fix. */
export function listenFailedError(error: NodeJS.ErrnoException, host: string, port: number, listener: ListenerIdentity = MODBUS_LISTENER): AdapterError {
  const target = `${host}:${port}`;
  const options = { cause: error, details: { host, port } };

  if (error.code === 'EACCES' && port < FIRST_UNPRIVILEGED_PORT) {
    return new AdapterError(
      'LISTEN_FAILED',
      `${listener.server} failed to listen on ${target} because ports below 1024 need root or CAP_NET_BIND_SERVICE. Run as root or set ${listener.portVariable} to a port of 1024 or higher, such as ${listener.suggestedPort}.`,
      options,
    );
  }
  if (error.code === 'EADDRINUSE') {
    return new AdapterError(
      'LISTEN_FAILED',
      `${listener.server} failed to listen on ${target} because the port is in use. Stop the other process or set ${listener.portVariable} to a free port.`,
      options,
    );
  }
  return new AdapterError('LISTEN_FAILED', `${listener.server} failed to listen on ${target}: ${error.message}`, options);
}
