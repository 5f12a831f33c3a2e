import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger, type AdapterLogger } from '../../src/log.js';

/** Parses bytes written as hex pairs, such as '00 01 00 00 00 06 01 03 00 00 00 03'. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

export function toHex(bytes: Buffer): string {
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
}

/** A Modbus TCP client that sends exact bytes and reads exact byte counts, for wire-level tests. */
export class RawModbusClient {
  private received = Buffer.alloc(0);
  private closed = false;
  private waiters: Array<() => void> = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => {
      // A reset by the server is expected in framing tests, and 'close' follows it.
    });
  }

  static connect(port: number): Promise<RawModbusClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new RawModbusClient(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends a request and returns the next `length` response bytes. */
  async request(bytes: Buffer, length: number): Promise<Buffer> {
    this.send(bytes);
    return this.read(length);
  }

  /** Returns exactly `length` received bytes, or rejects after `timeoutMs`. */
  async read(length: number, timeoutMs = 2000): Promise<Buffer> {
    await this.waitFor(() => this.received.length >= length, timeoutMs, `${length} response bytes`);
    const bytes = this.received.subarray(0, length);
    this.received = this.received.subarray(length);
    return Buffer.from(bytes);
  }

  /** Returns whatever arrives within `ms`, for checks that nothing more was sent. */
  async readAvailable(ms: number): Promise<Buffer> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    const bytes = this.received;
    this.received = Buffer.alloc(0);
    return bytes;
  }

  waitForClose(timeoutMs = 2000): Promise<void> {
    return this.waitFor(() => this.closed, timeoutMs, 'the server to close the connection');
  }

  close(): void {
    this.socket.destroy();
  }

  private waitFor(condition: () => boolean, timeoutMs: number, description: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description} (received so far: ${toHex(this.received)})`));
      }, timeoutMs);
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** Creates a logger at trace level that stores each JSON line for assertions. */
export function createCapturingLogger(): { logger: AdapterLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()) as LogLine);
      callback();
    },
  });
  return { logger: createLogger({ level: 'trace', destination }), lines };
}

/** Resolves once `condition` holds, polling every 10 ms, or rejects after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, description: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
