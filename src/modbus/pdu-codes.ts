import type { RegisterMapEntry } from './register-map.js';

/**
 * Function codes, exception codes and quantity limits of the Modbus Application Protocol
 * Specification v1.1b3, and the result type of request handling.
 */

export const FUNCTION_CODES = {
  readCoils: 0x01,
  readDiscreteInputs: 0x02,
  readHoldingRegisters: 0x03,
  readInputRegisters: 0x04,
  writeSingleCoil: 0x05,
  writeSingleRegister: 0x06,
  writeMultipleCoils: 0x0f,
  writeMultipleRegisters: 0x10,
  readWriteMultipleRegisters: 0x17,
} as const;

export const EXCEPTION_CODES = {
  illegalFunction: 0x01,
  illegalDataAddress: 0x02,
  illegalDataValue: 0x03,
  serverDeviceFailure: 0x04,
  gatewayTargetDeviceFailedToRespond: 0x0b,
} as const;

/** An exception response sets this bit in the echoed function code. */
export const EXCEPTION_FLAG = 0x80;

/** A read response carries at most 250 data bytes: 125 registers, or 2000 bits. */
export const MAX_READ_REGISTERS = 125;
export const MAX_READ_COILS = 2000;
/** A write request carries at most 246 data bytes after its header: 123 registers, or 1968 coils. */
export const MAX_WRITE_REGISTERS = 123;
export const MAX_WRITE_COILS = 1968;
/** Function code 23 carries read and write quantities in one request, so its write part is shorter. */
export const MAX_READ_WRITE_WRITE_REGISTERS = 121;

/** Values of a write-single-coil request. The specification rejects every other value. */
export const COIL_ON = 0xff00;
export const COIL_OFF = 0x0000;

/** A value SCADA wrote to a feedback register or coil, decoded to engineering units. */
export interface FeedbackWrite {
  entry: RegisterMapEntry;
  value: number;
}

/** A write rejected because the map does not allow it; these are audited. */
export interface RejectedWrite {
  table: 'holding' | 'coil';
  address: number;
  count: number;
  /** True when the write tried to clear an emergency stop through its coil. */
  clearsEmergencyStop: boolean;
}

export type PduResult =
  | { kind: 'response'; pdu: Buffer }
  | { kind: 'exception'; pdu: Buffer; exceptionCode: number; reason: string; rejectedWrite?: RejectedWrite }
  /**
   * An accepted write, already stored in the register image. The caller stores `feedback`, runs
   * the stop handler when `emergencyStop` is set, and then sends `pdu`.
   */
  | { kind: 'write'; pdu: Buffer; feedback: FeedbackWrite[]; emergencyStop: boolean };

export function exceptionPdu(functionCode: number, exceptionCode: number): Buffer {
  return Buffer.from([(functionCode | EXCEPTION_FLAG) & 0xff, exceptionCode]);
}

export function exception(functionCode: number, exceptionCode: number, reason: string, rejectedWrite?: RejectedWrite): PduResult {
  const result: PduResult = { kind: 'exception', pdu: exceptionPdu(functionCode, exceptionCode), exceptionCode, reason };
  if (rejectedWrite) result.rejectedWrite = rejectedWrite;
  return result;
}

export function malformed(functionCode: number, length: number, expected: number | string): PduResult {
  return exception(
    functionCode,
    EXCEPTION_CODES.illegalDataValue,
    `request PDU for function code ${functionCode} has ${length} bytes, expected ${expected}`,
  );
}

export function quantityOutOfRange(functionCode: number, what: string, quantity: number, maximum: number): PduResult {
  return exception(functionCode, EXCEPTION_CODES.illegalDataValue, `${what} quantity ${quantity} is outside 1..${maximum}`);
}
