import type { Socket } from 'node:net';
import type { AdapterLogger } from '../log.js';
import { encodeMbapFrame, MbapFrameReader, MbapFramingError, type MbapFrame } from './frame.js';
import type { LogThrottle } from './log-throttle.js';
import { EXCEPTION_CODES, exceptionPdu, FUNCTION_CODES, handleRequestPdu, type PduResult } from './pdu.js';
import type { RegisterImage } from './register-image.js';

export interface EmergencyStopCoilRequest {
  unitId: number;
  remoteAddress: string;
}

export type EmergencyStopCoilHandler = (request: EmergencyStopCoilRequest) => void | Promise<void>;

export interface ConnectionOptions {
  image: RegisterImage;
  logger: AdapterLogger;
  throttle: LogThrottle;
  idleTimeoutMs: number;
  onEmergencyStopCoil: EmergencyStopCoilHandler | undefined;
}

/**
 * Maximum number of received requests waiting for a response before the socket stops reading.
 * It bounds the memory that a client can take by sending requests while a coil write is awaited.
 */
const MAX_QUEUED_FRAMES = 64;

const ORDINARY_DISCONNECT_CODES = new Set(['ECONNRESET', 'EPIPE']);

/**
 * Serves Modbus requests on one client socket. Responses go out in request order, so a request
 * received while an emergency-stop handler runs waits for it.
 */
export class ModbusConnection {
  readonly remoteAddress: string;
  private readonly logger: AdapterLogger;
  private readonly reader = new MbapFrameReader();
  private queue: MbapFrame[] = [];
  private nextFrameIndex = 0;
  private waitingForHandler = false;

  constructor(
    private readonly socket: Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    this.logger = options.logger.child({ remote_address: this.remoteAddress, remote_port: socket.remotePort });

    // With Nagle's algorithm a small response waits while an earlier one is unacknowledged, which
    // delays pipelined requests by the client's delayed-ACK time.
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs);

    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.updateFlow());
    socket.on('timeout', () => {
      this.logger.info({ idle_timeout_ms: options.idleTimeoutMs }, 'closing idle Modbus client');
      socket.destroy();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const level = error.code !== undefined && ORDINARY_DISCONNECT_CODES.has(error.code) ? 'info' : 'warning';
      this.logger[level]({ err: error }, 'Modbus client socket failed and is closed');
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    let frames: MbapFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (error) {
      if (!(error instanceof MbapFramingError)) throw error;
      this.warnThrottled('framing-error', { reason: error.message }, 'disconnecting Modbus client after a framing error');
      this.socket.destroy();
      return;
    }

    if (this.nextFrameIndex >= this.queue.length) {
      this.queue = frames;
      this.nextFrameIndex = 0;
    } else {
      for (const frame of frames) this.queue.push(frame);
    }
    this.serveQueue();
  }

  private serveQueue(): void {
    while (!this.waitingForHandler && !this.socket.destroyed) {
      const frame = this.queue[this.nextFrameIndex];
      if (!frame) break;
      this.nextFrameIndex += 1;
      this.serve(frame);
    }
    this.updateFlow();
  }

  private serve(frame: MbapFrame): void {
    const functionCode = frame.pdu.readUInt8(0);
    let result: PduResult;
    try {
      result = handleRequestPdu(this.options.image, frame.unitId, frame.pdu);
    } catch (error) {
      this.logger.error({ err: error, unit_id: frame.unitId, function_code: functionCode }, 'Modbus request handler failed, so the client gets exception 04');
      this.send(frame, exceptionPdu(functionCode, EXCEPTION_CODES.serverDeviceFailure));
      return;
    }

    if (result.kind === 'emergency-stop-coil') {
      this.runEmergencyStopCoil(frame, result.pdu);
      return;
    }

    if (result.kind === 'exception') this.logException(frame, result);
    this.send(frame, result.pdu);
  }

  private logException(frame: MbapFrame, result: Extract<PduResult, { kind: 'exception' }>): void {
    const fields = { unit_id: frame.unitId, function_code: frame.pdu.readUInt8(0), exception_code: result.exceptionCode, reason: result.reason };
    // A rejected coil write is an attempt to change an emergency stop, which operators must see.
    if (frame.pdu.readUInt8(0) === FUNCTION_CODES.writeSingleCoil) {
      this.warnThrottled('coil-write-rejected', fields, 'Modbus coil write rejected');
      return;
    }
    this.logger.debug(fields, 'Modbus request rejected with an exception response');
  }

  /** Runs the emergency-stop handler and echoes the request only after it succeeds. */
  private runEmergencyStopCoil(frame: MbapFrame, echo: Buffer): void {
    const handler = this.options.onEmergencyStopCoil;
    const fields = { unit_id: frame.unitId };
    if (!handler) {
      this.logger.error(fields, 'emergency-stop coil write failed because the Modbus server has no onEmergencyStopCoil handler, so the client gets exception 04');
      this.send(frame, exceptionPdu(FUNCTION_CODES.writeSingleCoil, EXCEPTION_CODES.serverDeviceFailure));
      return;
    }

    this.logger.info(fields, 'emergency stop requested by Modbus coil write');
    const fail = (error: unknown): void => {
      this.logger.error({ ...fields, err: error }, 'emergency-stop coil handler failed, so the client gets exception 04');
      this.send(frame, exceptionPdu(FUNCTION_CODES.writeSingleCoil, EXCEPTION_CODES.serverDeviceFailure));
    };

    let outcome: void | Promise<void>;
    try {
      outcome = handler({ unitId: frame.unitId, remoteAddress: this.remoteAddress });
    } catch (error) {
      fail(error);
      return;
    }

    if (!(outcome instanceof Promise)) {
      this.send(frame, echo);
      return;
    }

    this.waitingForHandler = true;
    void outcome
      .then(() => this.send(frame, echo), fail)
      .then(() => {
        this.waitingForHandler = false;
        this.serveQueue();
      });
  }

  private send(frame: MbapFrame, pdu: Buffer): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(encodeMbapFrame(frame.transactionId, frame.unitId, pdu));
  }

  /** Stops reading while the client does not read its responses or too many requests wait. */
  private updateFlow(): void {
    if (this.socket.destroyed) return;
    const backlog = this.queue.length - this.nextFrameIndex;
    if (this.socket.writableNeedDrain || backlog > MAX_QUEUED_FRAMES) {
      this.socket.pause();
    } else if (this.socket.isPaused()) {
      this.socket.resume();
    }
  }

  private warnThrottled(key: string, fields: Record<string, unknown>, message: string): void {
    const suppressed = this.options.throttle.admit(key);
    if (suppressed === null) return;
    this.logger.warning({ ...fields, suppressed_repeats: suppressed }, message);
  }
}
