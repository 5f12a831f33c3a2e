import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { PreparedExchange } from './fixture.js';

/** Every request the benchmark sends is an FC3 read: a 7-byte MBAP header and a 5-byte PDU. */
const REQUEST_LENGTH = 12;

/**
 * A Modbus TCP server reduced to what any server must do per request on node:net: split the
 * stream into 12-byte requests, find the prepared response, copy it with the request's
 * transaction id and write it. It is the baseline that the adapter's ModbusTcpServer is measured
 * against, so it checks nothing beyond matching the request bytes and closes the connection on an
 * unknown request.
 */
export class RawModbusServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly exchanges: readonly PreparedExchange[]) {
    this.server = createServer((socket) => this.accept(socket));
  }

  listen(host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port: 0 }, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting clients, disconnects every client and resolves once the listener is closed. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((error) => (error ? reject(error) : resolve()));
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private accept(socket: Socket): void {
    // The adapter disables Nagle's algorithm too, so both servers send each response at once.
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // A client reset is the end of that client's run, and 'close' follows the error.
    socket.on('error', () => socket.destroy());

    let pending: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      const bytes = pending ? Buffer.concat([pending, chunk]) : chunk;
      let offset = 0;
      while (bytes.length - offset >= REQUEST_LENGTH) {
        const response = this.respond(bytes, offset);
        if (!response) {
          socket.destroy();
          return;
        }
        socket.write(response);
        offset += REQUEST_LENGTH;
      }
      pending = offset < bytes.length ? Buffer.from(bytes.subarray(offset)) : null;
    });
  }

  /** Returns the response to the request at `offset`, or null when no prepared request matches it. */
  private respond(bytes: Buffer, offset: number): Buffer | null {
    for (const exchange of this.exchanges) {
      // Bytes 2..12 are everything but the transaction id.
      if (bytes.compare(exchange.request, 2, REQUEST_LENGTH, offset + 2, offset + REQUEST_LENGTH) !== 0) continue;

      const response = Buffer.allocUnsafe(exchange.response.length);
      exchange.response.copy(response);
      response[0] = bytes[offset]!;
      response[1] = bytes[offset + 1]!;
      return response;
    }
    return null;
  }
}
