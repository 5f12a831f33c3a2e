import { connect, type Socket } from 'node:net';

const STATUS_WORD_ADDRESS = 0;
const FUNCTION_READ_HOLDING_REGISTERS = 3;
/** MBAP header (7 bytes) + function code + byte count + one register. */
const RESPONSE_LENGTH = 11;

interface Waiter {
  accept: (statusWord: number) => boolean;
  resolve: (receivedAt: number) => void;
}

/**
 * Reads a station's status word (holding register 40001) over raw Modbus TCP in a closed loop
 * while a caller waits for a change. The next FC3 request leaves as soon as the previous response
 * arrived, so a change shows up within about one round trip. Between waits it sends nothing, so
 * that polling load does not slow the adapter during the rest of a cycle. `waitFor` resolves with
 * the performance.now() time at which the first matching response arrived.
 */
export class StatusPoller {
  private buffer: Buffer = Buffer.alloc(0);
  private transactionId = 0;
  private waiter: Waiter | null = null;
  private running = true;
  private inFlight = false;
  private failure: Error | null = null;
  polls = 0;

  private constructor(
    private readonly socket: Socket,
    private readonly unitId: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => (this.failure = error));
    socket.on('close', () => {
      if (this.running) this.failure ??= new Error('the Modbus connection closed during the benchmark');
    });
  }

  static open(port: number, unitId: number): Promise<StatusPoller> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new StatusPoller(socket, unitId)));
      socket.once('error', reject);
    });
  }

  /** Resolves with the arrival time of the first response, from now on, whose status word `accept`s. */
  waitFor(accept: (statusWord: number) => boolean, timeoutMs = 5000): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(this.failure ?? new Error(`the status word did not change as expected within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        accept,
        resolve: (receivedAt) => {
          clearTimeout(timer);
          resolve(receivedAt);
        },
      };
      if (!this.inFlight) this.sendNext();
    });
  }

  close(): void {
    this.running = false;
    this.socket.destroy();
  }

  private sendNext(): void {
    if (!this.running) return;
    this.inFlight = true;
    this.transactionId = (this.transactionId + 1) % 65536;
    const request = Buffer.alloc(12);
    request.writeUInt16BE(this.transactionId, 0);
    request.writeUInt16BE(0, 2);
    request.writeUInt16BE(6, 4);
    request.writeUInt8(this.unitId, 6);
    request.writeUInt8(FUNCTION_READ_HOLDING_REGISTERS, 7);
    request.writeUInt16BE(STATUS_WORD_ADDRESS, 8);
    request.writeUInt16BE(1, 10);
    this.socket.write(request);
  }

  private onData(chunk: Buffer): void {
    const receivedAt = performance.now();
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= RESPONSE_LENGTH) {
      const response = this.buffer.subarray(0, RESPONSE_LENGTH);
      this.buffer = this.buffer.subarray(RESPONSE_LENGTH);
      if (response.readUInt8(7) !== FUNCTION_READ_HOLDING_REGISTERS) {
        this.failure = new Error(`unexpected Modbus response ${response.toString('hex')}; is unit ${this.unitId} configured?`);
        return;
      }
      this.polls += 1;
      this.inFlight = false;
      const statusWord = response.readUInt16BE(9);
      const waiter = this.waiter;
      if (waiter?.accept(statusWord)) {
        this.waiter = null;
        waiter.resolve(receivedAt);
      }
      if (this.waiter) this.sendNext();
    }
  }
}
