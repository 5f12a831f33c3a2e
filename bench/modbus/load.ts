import { connect, type Socket } from 'node:net';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { PreparedExchange } from './fixture.js';

const CONNECT_TIMEOUT_MS = 5_000;
/** Time after stop() within which each connection's last response must arrive. */
const DRAIN_TIMEOUT_MS = 5_000;

/** Figures of one measurement window. */
export interface LoadMeasurement {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Microseconds: number;
  p99Microseconds: number;
  /** Client process CPU time over the window, as a percentage of one core. */
  clientCpuPercent: number;
}

/** State that every connection of one load run shares. */
interface LoadState {
  recording: boolean;
  sending: boolean;
  completed: number;
  latencyNanoseconds: RecordableHistogram;
  failure: Error | null;
}

/**
 * Closed-loop load on one server: each connection sends its next FC3 request only after the
 * previous response arrived, and all connections run concurrently in this process. Every
 * response is compared byte for byte with the prepared one, so a faster but wrong server fails
 * the run instead of winning it.
 */
export class ClosedLoopLoad {
  private readonly state: LoadState = {
    recording: false,
    sending: false,
    completed: 0,
    latencyNanoseconds: createHistogram(),
    failure: null,
  };
  private readonly connections: LoadConnection[];
  private windowStart = 0n;
  private cpuStart: NodeJS.CpuUsage = process.cpuUsage();

  private constructor(sockets: Socket[], exchange: PreparedExchange) {
    this.connections = sockets.map((socket) => new LoadConnection(socket, exchange, this.state));
  }

  /** Opens `connectionCount` connections to 127.0.0.1:`port`. No request is sent before start(). */
  static async open(port: number, connectionCount: number, exchange: PreparedExchange): Promise<ClosedLoopLoad> {
    const sockets = await Promise.all(Array.from({ length: connectionCount }, () => connectSocket(port)));
    return new ClosedLoopLoad(sockets, exchange);
  }

  /** Starts every connection's request loop. Nothing is recorded before beginMeasurement(). */
  start(): void {
    this.state.sending = true;
    for (const connection of this.connections) connection.sendNext();
  }

  beginMeasurement(): void {
    this.throwIfFailed();
    this.state.completed = 0;
    this.state.latencyNanoseconds.reset();
    this.cpuStart = process.cpuUsage();
    this.windowStart = process.hrtime.bigint();
    this.state.recording = true;
  }

  /** Ends the measurement window and returns its figures. The connections keep sending until stop(). */
  endMeasurement(): LoadMeasurement {
    this.state.recording = false;
    const seconds = Number(process.hrtime.bigint() - this.windowStart) / 1e9;
    const cpu = process.cpuUsage(this.cpuStart);
    this.throwIfFailed();

    const requests = this.state.completed;
    const histogram = this.state.latencyNanoseconds;
    return {
      requests,
      seconds,
      requestsPerSecond: requests / seconds,
      p50Microseconds: histogram.percentile(50) / 1000,
      p99Microseconds: histogram.percentile(99) / 1000,
      clientCpuPercent: ((cpu.user + cpu.system) / 1e6 / seconds) * 100,
    };
  }

  /** Stops sending, waits for each connection's last response and closes the connections. */
  async stop(): Promise<void> {
    this.state.sending = false;
    try {
      await withTimeout(
        Promise.all(this.connections.map((connection) => connection.drained)),
        DRAIN_TIMEOUT_MS,
        'the last response on every benchmark connection',
      );
    } finally {
      for (const connection of this.connections) connection.close();
    }
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.state.failure) throw this.state.failure;
  }
}

/** One client connection with at most one request in flight. */
class LoadConnection {
  /** Resolves once the connection has no request in flight and sends no more. */
  readonly drained: Promise<void>;
  private resolveDrained: () => void = () => {};
  private readonly request: Buffer;
  private readonly expected: Buffer;
  private received: Buffer | null = null;
  private transactionId = 0;
  private sentAt = 0n;
  private closing = false;

  constructor(
    private readonly socket: Socket,
    exchange: PreparedExchange,
    private readonly state: LoadState,
  ) {
    // Each connection owns its request buffer and rewrites the transaction id in place. That is
    // safe because the next write happens only after the response, so the kernel has long
    // taken the previous request's bytes.
    this.request = Buffer.from(exchange.request);
    this.expected = exchange.response;
    this.drained = new Promise((resolve) => (this.resolveDrained = resolve));

    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(new Error(`benchmark connection failed: ${error.message}`, { cause: error })));
    socket.on('close', () => {
      if (!this.closing) this.fail(new Error('the server closed a benchmark connection during the run'));
    });
  }

  sendNext(): void {
    if (!this.state.sending || this.state.failure) {
      this.resolveDrained();
      return;
    }
    this.transactionId = (this.transactionId + 1) & 0xffff;
    this.request.writeUInt16BE(this.transactionId, 0);
    this.sentAt = process.hrtime.bigint();
    this.socket.write(this.request);
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    // Loopback almost always delivers a response in one chunk, so the copy below is the rare path.
    const bytes = this.received ? Buffer.concat([this.received, chunk]) : chunk;
    if (bytes.length < this.expected.length) {
      this.received = Buffer.from(bytes);
      return;
    }
    this.received = null;

    const receivedAt = process.hrtime.bigint();
    if (bytes.length > this.expected.length) {
      this.fail(new Error(`received ${bytes.length} bytes for one request, expected ${this.expected.length}: the server sent an unrequested response`));
      return;
    }
    const transactionId = bytes.readUInt16BE(0);
    if (transactionId !== this.transactionId) {
      this.fail(new Error(`response has transaction id ${transactionId}, expected ${this.transactionId}`));
      return;
    }
    if (bytes.compare(this.expected, 2, this.expected.length, 2, this.expected.length) !== 0) {
      this.fail(new Error(`response bytes differ from the prepared response: ${bytes.toString('hex')}`));
      return;
    }

    if (this.state.recording) {
      this.state.completed += 1;
      this.state.latencyNanoseconds.record(Math.max(1, Number(receivedAt - this.sentAt)));
    }
    this.sendNext();
  }

  private fail(error: Error): void {
    this.state.failure ??= error;
    this.resolveDrained();
  }
}

function connectSocket(port: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    // Without this, Nagle's algorithm could hold a request while the previous one is unacknowledged.
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out after ${CONNECT_TIMEOUT_MS} ms connecting to 127.0.0.1:${port}`));
    }, CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(new Error(`failed to connect to 127.0.0.1:${port}: ${error.message}`, { cause: error }));
    };
    socket.once('error', onError);
  });
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, description: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
