import type { Socket } from 'node:net';
import type { AdapterLogger } from '../log.js';
import { encodeMbapFrame, MbapFrameReader, MbapFramingError, type MbapFrame } from './frame.js';
import type { LogThrottle } from './log-throttle.js';
import { countRequest, exceptionOutcome, type ConnectionCloseReason } from './metrics.js';
import { EXCEPTION_CODES, exceptionPdu, handleRequestPdu, type FeedbackWrite, type PduResult, type RejectedWrite } from './pdu.js';
import type { RegisterImage } from './register-image.js';

export interface EmergencyStopCoilRequest {
  unitId: number;
  remoteAddress: string;
}

export type EmergencyStopCoilHandler = (request: EmergencyStopCoilRequest) => void | Promise<void>;

/** Values SCADA wrote in one request, already in the register image. */
export interface FeedbackReceived {
  unitId: number;
  remoteAddress: string;
  writes: FeedbackWrite[];
}

/** Stores feedback. It must not throw for storage problems; it queues and retries instead. */
export type FeedbackHandler = (feedback: FeedbackReceived) => void;

export interface WriteRejectedEvent extends RejectedWrite {
  unitId: number;
  remoteAddress: string;
  functionCode: number;
  exceptionCode: number;
  reason: string;
}

export type WriteRejectedHandler = (event: WriteRejectedEvent) => void;

/** Response to a request for a unit id that no station has. */
export type UnknownUnitResponse = 'exception' | 'none';

export interface ConnectionOptions {
  image: RegisterImage;
  logger: AdapterLogger;
  throttle: LogThrottle;
  idleTimeoutMs: number;
  /** Time in ms within which a new client must send its first complete frame. */
  firstFrameTimeoutMs: number;
  unknownUnitResponse: UnknownUnitResponse;
  onEmergencyStopCoil: EmergencyStopCoilHandler | undefined;
  onFeedback: FeedbackHandler | undefined;
  onWriteRejected: WriteRejectedHandler | undefined;
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
  readonly connectedAt = Date.now();
  /** Time of the last received bytes, which the server uses to pick an idle connection to evict. */
  lastActivityAt = this.connectedAt;
  /** Whether a complete frame has arrived; a client that never sends one is the first to evict. */
  receivedFrame = false;
  closeReason: ConnectionCloseReason = 'client';
  private readonly logger: AdapterLogger;
  private readonly firstFrameTimer: NodeJS.Timeout;
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
      this.destroy('idle_timeout');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const ordinary = error.code !== undefined && ORDINARY_DISCONNECT_CODES.has(error.code);
      if (!ordinary) this.closeReason = 'socket_error';
      this.logger[ordinary ? 'info' : 'warning']({ err: error }, 'Modbus client socket failed and is closed');
    });

    this.firstFrameTimer = setTimeout(() => {
      this.logger.info({ first_frame_timeout_ms: options.firstFrameTimeoutMs }, 'closing Modbus client that sent no complete frame in time');
      this.destroy('first_frame_timeout');
    }, options.firstFrameTimeoutMs);
    this.firstFrameTimer.unref();
    socket.once('close', () => clearTimeout(this.firstFrameTimer));
  }

  /** Closes the connection; `reason` is counted in the metrics when the socket has closed. */
  destroy(reason: ConnectionCloseReason = 'server_closed'): void {
    if (!this.socket.destroyed) this.closeReason = reason;
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.lastActivityAt = Date.now();
    let frames: MbapFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (error) {
      if (!(error instanceof MbapFramingError)) throw error;
      this.warnThrottled('framing-error', { reason: error.message }, 'disconnecting Modbus client after a framing error');
      this.destroy('framing_error');
      return;
    }
    if (frames.length > 0 && !this.receivedFrame) {
      this.receivedFrame = true;
      clearTimeout(this.firstFrameTimer);
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
      countRequest(functionCode, frame.unitId, true, 'exception_04');
      this.send(frame, exceptionPdu(functionCode, EXCEPTION_CODES.serverDeviceFailure));
      return;
    }

    if (result.kind === 'response') {
      countRequest(functionCode, frame.unitId, true, 'ok');
      this.send(frame, result.pdu);
      return;
    }
    if (result.kind === 'write') {
      this.completeWrite(frame, result);
      return;
    }

    this.logException(frame, result);
    if (result.exceptionCode === EXCEPTION_CODES.gatewayTargetDeviceFailedToRespond) {
      // A gateway that does not forward to an unknown unit may also stay silent, and some clients
      // expect that instead of exception 0B; they then see their own response timeout.
      const silent = this.options.unknownUnitResponse === 'none';
      countRequest(functionCode, frame.unitId, false, silent ? 'no_response' : 'exception_0b');
      if (!silent) this.send(frame, result.pdu);
      return;
    }
    if (result.rejectedWrite) {
      countRequest(functionCode, frame.unitId, true, 'rejected');
      this.reportRejectedWrite(frame, result);
    } else {
      countRequest(functionCode, frame.unitId, true, exceptionOutcome(result.exceptionCode));
    }
    this.send(frame, result.pdu);
  }

  /** Hands feedback to storage, then sends the response or runs the emergency stop first. */
  private completeWrite(frame: MbapFrame, result: Extract<PduResult, { kind: 'write' }>): void {
    const functionCode = frame.pdu.readUInt8(0);
    if (result.feedback.length > 0) {
      try {
        this.options.onFeedback?.({ unitId: frame.unitId, remoteAddress: this.remoteAddress, writes: result.feedback });
      } catch (error) {
        this.logger.error({ err: error, unit_id: frame.unitId, function_code: functionCode }, 'storing Modbus feedback failed, so the client gets exception 04');
        countRequest(functionCode, frame.unitId, true, 'exception_04');
        this.send(frame, exceptionPdu(functionCode, EXCEPTION_CODES.serverDeviceFailure));
        return;
      }
    }

    if (result.emergencyStop) {
      this.runEmergencyStopCoil(frame, result.pdu);
      return;
    }
    countRequest(functionCode, frame.unitId, true, 'ok');
    this.send(frame, result.pdu);
  }

  private reportRejectedWrite(frame: MbapFrame, result: Extract<PduResult, { kind: 'exception' }>): void {
    const rejected = result.rejectedWrite;
    if (!rejected) return;
    try {
      this.options.onWriteRejected?.({
        ...rejected,
        unitId: frame.unitId,
        remoteAddress: this.remoteAddress,
        functionCode: frame.pdu.readUInt8(0),
        exceptionCode: result.exceptionCode,
        reason: result.reason,
      });
    } catch (error) {
      // The exception response still goes out; the audit handler reports its own storage failures.
      this.logger.error({ err: error, unit_id: frame.unitId }, 'reporting a rejected Modbus write failed');
    }
  }

  private logException(frame: MbapFrame, result: Extract<PduResult, { kind: 'exception' }>): void {
    const fields = { unit_id: frame.unitId, function_code: frame.pdu.readUInt8(0), exception_code: result.exceptionCode, reason: result.reason };
    // A rejected write is an attempt to change a value or an emergency stop, which operators must see.
    if (result.rejectedWrite) {
      this.warnThrottled(result.rejectedWrite.clearsEmergencyStop ? 'coil-write-rejected' : 'write-rejected', fields, 'Modbus write rejected');
      return;
    }
    this.logger.debug(fields, 'Modbus request rejected with an exception response');
  }

  /** Runs the emergency-stop handler and sends the write response only after it succeeds. */
  private runEmergencyStopCoil(frame: MbapFrame, echo: Buffer): void {
    const handler = this.options.onEmergencyStopCoil;
    const fields = { unit_id: frame.unitId };
    const functionCode = frame.pdu.readUInt8(0);
    if (!handler) {
      this.logger.error(fields, 'emergency-stop coil write failed because the Modbus server has no onEmergencyStopCoil handler, so the client gets exception 04');
      countRequest(functionCode, frame.unitId, true, 'exception_04');
      this.send(frame, exceptionPdu(functionCode, EXCEPTION_CODES.serverDeviceFailure));
      return;
    }

    this.logger.info(fields, 'emergency stop requested by Modbus coil write');
    const fail = (error: unknown): void => {
      this.logger.error({ ...fields, err: error }, 'emergency-stop coil handler failed, so the client gets exception 04');
      countRequest(functionCode, frame.unitId, true, 'exception_04');
      this.send(frame, exceptionPdu(functionCode, EXCEPTION_CODES.serverDeviceFailure));
    };
    const succeed = (): void => {
      countRequest(functionCode, frame.unitId, true, 'ok');
      this.send(frame, echo);
    };

    let outcome: void | Promise<void>;
    try {
      outcome = handler({ unitId: frame.unitId, remoteAddress: this.remoteAddress });
    } catch (error) {
      fail(error);
      return;
    }

    if (!(outcome instanceof Promise)) {
      succeed();
      return;
    }

    this.waitingForHandler = true;
    void outcome
      .then(succeed, fail)
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
