import type { RegisterImage } from './register-image.js';

/**
 * Request handling over the register image: a request PDU in, a response PDU out, with no I/O.
 * Codes, limits and check order follow the Modbus Application Protocol Specification v1.1b3.
 * An unknown unit id fails first (exception 0B) and an unsupported function code next (01).
 * Then come a malformed request or quantity (03) and last an address range outside the map (02).
 */

export const FUNCTION_CODES = {
  readCoils: 0x01,
  readHoldingRegisters: 0x03,
  readInputRegisters: 0x04,
  writeSingleCoil: 0x05,
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

/** Maximum quantity of one read, because a response PDU carries at most 250 data bytes. */
export const MAX_READ_REGISTERS = 125;
export const MAX_READ_COILS = 2000;

/** Values of a write-single-coil request. The specification rejects every other value. */
export const COIL_ON = 0xff00;
export const COIL_OFF = 0x0000;

/** Function code, a 16-bit address and a 16-bit quantity or value. */
const FIXED_REQUEST_LENGTH = 5;

export type PduResult =
  | { kind: 'response'; pdu: Buffer }
  | { kind: 'exception'; pdu: Buffer; exceptionCode: number; reason: string }
  /** An emergency-stop request from SCADA. The caller runs the stop handler, then sends `pdu`, the echo of the request. */
  | { kind: 'emergency-stop-coil'; pdu: Buffer };

export function exceptionPdu(functionCode: number, exceptionCode: number): Buffer {
  return Buffer.from([(functionCode | EXCEPTION_FLAG) & 0xff, exceptionCode]);
}

/** Computes the response to one request PDU addressed to `unitId`. */
export function handleRequestPdu(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = request.readUInt8(0);
  if (!image.hasUnit(unitId)) {
    return exception(functionCode, EXCEPTION_CODES.gatewayTargetDeviceFailedToRespond, `no station has unit id ${unitId}`);
  }

  switch (functionCode) {
    case FUNCTION_CODES.readCoils:
      return readCoils(image, unitId, request);
    case FUNCTION_CODES.readHoldingRegisters:
    case FUNCTION_CODES.readInputRegisters:
      return readRegisters(image, unitId, request);
    case FUNCTION_CODES.writeSingleCoil:
      return writeSingleCoil(image, unitId, request);
    default:
      return exception(functionCode, EXCEPTION_CODES.illegalFunction, `function code ${functionCode} is not supported`);
  }
}

function readRegisters(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = request.readUInt8(0);
  if (request.length !== FIXED_REQUEST_LENGTH) return malformed(functionCode, request.length);

  const address = request.readUInt16BE(1);
  const quantity = request.readUInt16BE(3);
  if (quantity < 1 || quantity > MAX_READ_REGISTERS) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataValue, `register quantity ${quantity} is outside 1..${MAX_READ_REGISTERS}`);
  }

  const read =
    functionCode === FUNCTION_CODES.readHoldingRegisters
      ? image.readHolding(unitId, address, quantity)
      : image.readInput(unitId, address, quantity);
  if (!read.ok) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataAddress, `registers ${address}..${address + quantity - 1} are outside the map`);
  }

  const response = Buffer.allocUnsafe(2 + read.registers.length);
  response.writeUInt8(functionCode, 0);
  response.writeUInt8(read.registers.length, 1);
  read.registers.copy(response, 2);
  return { kind: 'response', pdu: response };
}

function readCoils(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = FUNCTION_CODES.readCoils;
  if (request.length !== FIXED_REQUEST_LENGTH) return malformed(functionCode, request.length);

  const address = request.readUInt16BE(1);
  const quantity = request.readUInt16BE(3);
  if (quantity < 1 || quantity > MAX_READ_COILS) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataValue, `coil quantity ${quantity} is outside 1..${MAX_READ_COILS}`);
  }

  const read = image.readCoils(unitId, address, quantity);
  if (!read.ok) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataAddress, `coils ${address}..${address + quantity - 1} are outside the map`);
  }

  // Coils are packed eight to a byte, the lowest address in the least significant bit.
  const byteCount = Math.ceil(read.coils.length / 8);
  const response = Buffer.alloc(2 + byteCount);
  response.writeUInt8(functionCode, 0);
  response.writeUInt8(byteCount, 1);
  read.coils.forEach((coil, index) => {
    if (!coil) return;
    const byteOffset = 2 + (index >> 3);
    response.writeUInt8(response.readUInt8(byteOffset) | (1 << (index & 7)), byteOffset);
  });
  return { kind: 'response', pdu: response };
}

/**
 * Coil address 0 accepts only ON, which requests an emergency stop, and only on a station whose
 * configuration allows it. OFF is rejected with exception 03 because clearing an emergency stop
 * from Modbus is never allowed. On a station that does not allow coil writes the coil is
 * read-only, so every write gets exception 02.
 */
function writeSingleCoil(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = FUNCTION_CODES.writeSingleCoil;
  if (request.length !== FIXED_REQUEST_LENGTH) return malformed(functionCode, request.length);

  const address = request.readUInt16BE(1);
  const value = request.readUInt16BE(3);
  if (value !== COIL_ON && value !== COIL_OFF) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataValue, `coil value 0x${hex16(value)} is neither 0xFF00 nor 0x0000`);
  }

  if (!image.readCoils(unitId, address, 1).ok) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataAddress, `coil ${address} is outside the map`);
  }
  if (!image.allowsEmergencyStopCoil(unitId)) {
    return exception(
      functionCode,
      EXCEPTION_CODES.illegalDataAddress,
      `unit id ${unitId} does not allow an emergency stop from Modbus; set allow_modbus_emergency_stop in its station configuration`,
    );
  }
  if (value === COIL_OFF) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataValue, 'clearing an emergency stop from Modbus is never allowed');
  }

  return { kind: 'emergency-stop-coil', pdu: Buffer.from(request) };
}

function malformed(functionCode: number, length: number): PduResult {
  return exception(
    functionCode,
    EXCEPTION_CODES.illegalDataValue,
    `request PDU for function code ${functionCode} has ${length} bytes, expected ${FIXED_REQUEST_LENGTH}`,
  );
}

function exception(functionCode: number, exceptionCode: number, reason: string): PduResult {
  return { kind: 'exception', pdu: exceptionPdu(functionCode, exceptionCode), exceptionCode, reason };
}

function hex16(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, '0');
}
