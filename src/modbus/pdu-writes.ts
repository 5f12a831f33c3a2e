import {
  COIL_OFF,
  COIL_ON,
  EXCEPTION_CODES,
  exception,
  FUNCTION_CODES,
  malformed,
  MAX_READ_REGISTERS,
  MAX_READ_WRITE_WRITE_REGISTERS,
  MAX_WRITE_COILS,
  MAX_WRITE_REGISTERS,
  quantityOutOfRange,
  type FeedbackWrite,
  type PduResult,
} from './pdu-codes.js';
import { FIXED_REQUEST_LENGTH, registerResponse } from './pdu-reads.js';
import { BYTE_ORDER_CODES, DATA_TYPE_CODES, decodeRegisterValue } from './register-codec.js';
import type { RegisterImage, WriteCheck } from './register-image.js';
import { FEEDBACK_VALUES, type RegisterMapEntry } from './register-map.js';

/**
 * Write requests. Every write is checked whole before anything is stored, so a rejected request
 * changes nothing. A malformed request or quantity gets exception 03. An address that is
 * unmapped, read-only or cuts a multi-register value gets 02.
 */

/** Function code, address, quantity and byte count of function codes 15 and 16. */
const MULTIPLE_WRITE_HEADER_LENGTH = 6;
/** Function code, read address and quantity, write address and quantity, byte count of function code 23. */
const READ_WRITE_HEADER_LENGTH = 10;

/** Function code 5. Coil values other than 0xFF00 and 0x0000 get 03. */
export function writeSingleCoil(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = FUNCTION_CODES.writeSingleCoil;
  if (request.length !== FIXED_REQUEST_LENGTH) return malformed(functionCode, request.length, FIXED_REQUEST_LENGTH);

  const address = request.readUInt16BE(1);
  const value = request.readUInt16BE(3);
  if (value !== COIL_ON && value !== COIL_OFF) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataValue, `coil value 0x${hex16(value)} is neither 0xFF00 nor 0x0000`);
  }

  const check = image.checkWrite(unitId, 'coil', address, 1);
  if (!check.ok) return rejectWrite(image, unitId, functionCode, 'coil', address, 1, check);
  return applyCoilWrites(image, unitId, functionCode, check.entries, () => value === COIL_ON, Buffer.from(request));
}

/** Function code 15. */
export function writeMultipleCoils(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = FUNCTION_CODES.writeMultipleCoils;
  const header = parseMultipleWriteHeader(functionCode, request, 'coil', MAX_WRITE_COILS, (quantity) => Math.ceil(quantity / 8));
  if (!header.ok) return header.result;
  const { address, quantity } = header;

  const check = image.checkWrite(unitId, 'coil', address, quantity);
  if (!check.ok) return rejectWrite(image, unitId, functionCode, 'coil', address, quantity, check);
  const isOn = (coilAddress: number): boolean => {
    const index = coilAddress - address;
    return ((request[MULTIPLE_WRITE_HEADER_LENGTH + (index >> 3)] ?? 0) & (1 << (index & 7))) !== 0;
  };
  return applyCoilWrites(image, unitId, functionCode, check.entries, isOn, Buffer.from(request.subarray(0, 5)));
}

/** Function code 6. */
export function writeSingleRegister(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = FUNCTION_CODES.writeSingleRegister;
  if (request.length !== FIXED_REQUEST_LENGTH) return malformed(functionCode, request.length, FIXED_REQUEST_LENGTH);

  const address = request.readUInt16BE(1);
  const check = image.checkWrite(unitId, 'holding', address, 1);
  if (!check.ok) return rejectWrite(image, unitId, functionCode, 'holding', address, 1, check);
  return applyRegisterWrites(image, unitId, functionCode, check.entries, address, request.subarray(3, 5), Buffer.from(request));
}

/** Function code 16. */
export function writeMultipleRegisters(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = FUNCTION_CODES.writeMultipleRegisters;
  const header = parseMultipleWriteHeader(functionCode, request, 'register', MAX_WRITE_REGISTERS, (quantity) => quantity * 2);
  if (!header.ok) return header.result;
  const { address, quantity } = header;

  const check = image.checkWrite(unitId, 'holding', address, quantity);
  if (!check.ok) return rejectWrite(image, unitId, functionCode, 'holding', address, quantity, check);
  const data = request.subarray(MULTIPLE_WRITE_HEADER_LENGTH);
  return applyRegisterWrites(image, unitId, functionCode, check.entries, address, data, Buffer.from(request.subarray(0, 5)));
}

/**
 * Reads address, quantity and byte count of function codes 15 and 16, and checks the quantity,
 * that the byte count fits the quantity, and that the data has byte count bytes.
 */
function parseMultipleWriteHeader(
  functionCode: number,
  request: Buffer,
  what: 'coil' | 'register',
  maxQuantity: number,
  bytesFor: (quantity: number) => number,
): { ok: true; address: number; quantity: number } | { ok: false; result: PduResult } {
  if (request.length < MULTIPLE_WRITE_HEADER_LENGTH) {
    return { ok: false, result: malformed(functionCode, request.length, `at least ${MULTIPLE_WRITE_HEADER_LENGTH}`) };
  }
  const address = request.readUInt16BE(1);
  const quantity = request.readUInt16BE(3);
  const byteCount = request.readUInt8(5);
  if (quantity < 1 || quantity > maxQuantity) return { ok: false, result: quantityOutOfRange(functionCode, what, quantity, maxQuantity) };
  if (byteCount !== bytesFor(quantity)) {
    const reason = `byte count ${byteCount} does not match ${quantity} ${what}s, expected ${bytesFor(quantity)}`;
    return { ok: false, result: exception(functionCode, EXCEPTION_CODES.illegalDataValue, reason) };
  }
  if (request.length !== MULTIPLE_WRITE_HEADER_LENGTH + byteCount) {
    return { ok: false, result: malformed(functionCode, request.length, MULTIPLE_WRITE_HEADER_LENGTH + byteCount) };
  }
  return { ok: true, address, quantity };
}

/** Function code 23: the write is stored before the read, as the specification orders. */
export function readWriteMultipleRegisters(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = FUNCTION_CODES.readWriteMultipleRegisters;
  if (request.length < READ_WRITE_HEADER_LENGTH) return malformed(functionCode, request.length, `at least ${READ_WRITE_HEADER_LENGTH}`);

  const readAddress = request.readUInt16BE(1);
  const readQuantity = request.readUInt16BE(3);
  const writeAddress = request.readUInt16BE(5);
  const writeQuantity = request.readUInt16BE(7);
  const byteCount = request.readUInt8(9);
  if (readQuantity < 1 || readQuantity > MAX_READ_REGISTERS) return quantityOutOfRange(functionCode, 'read register', readQuantity, MAX_READ_REGISTERS);
  if (writeQuantity < 1 || writeQuantity > MAX_READ_WRITE_WRITE_REGISTERS) {
    return quantityOutOfRange(functionCode, 'write register', writeQuantity, MAX_READ_WRITE_WRITE_REGISTERS);
  }
  if (byteCount !== writeQuantity * 2) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataValue, `byte count ${byteCount} does not match ${writeQuantity} registers, expected ${writeQuantity * 2}`);
  }
  if (request.length !== READ_WRITE_HEADER_LENGTH + byteCount) return malformed(functionCode, request.length, READ_WRITE_HEADER_LENGTH + byteCount);

  const check = image.checkWrite(unitId, 'holding', writeAddress, writeQuantity);
  if (!check.ok) return rejectWrite(image, unitId, functionCode, 'holding', writeAddress, writeQuantity, check);
  if (!image.readHolding(unitId, readAddress, readQuantity).ok) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataAddress, `registers ${readAddress}..${readAddress + readQuantity - 1} are outside the map`);
  }

  const written = applyRegisterWrites(image, unitId, functionCode, check.entries, writeAddress, request.subarray(READ_WRITE_HEADER_LENGTH), Buffer.alloc(0));
  if (written.kind !== 'write') return written;
  const read = registerResponse(image, unitId, functionCode, readAddress, readQuantity);
  return { ...written, pdu: read.pdu };
}

/**
 * Stores coil writes. Writing 0 to an emergency-stop coil is rejected with 03 because clearing an
 * emergency stop from Modbus is never allowed. Writing 1 sets `emergencyStop`, so the caller stops the station.
 */
function applyCoilWrites(
  image: RegisterImage,
  unitId: number,
  functionCode: number,
  entries: readonly RegisterMapEntry[],
  isOn: (address: number) => boolean,
  response: Buffer,
): PduResult {
  const clear = entries.find((entry) => entry.value === 'emergency_stop' && !isOn(entry.address));
  if (clear) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataValue, 'clearing an emergency stop from Modbus is never allowed', {
      table: 'coil',
      address: clear.address,
      count: entries.length,
      clearsEmergencyStop: true,
    });
  }

  let emergencyStop = false;
  const feedback: FeedbackWrite[] = [];
  for (const entry of entries) {
    const on = isOn(entry.address);
    if (entry.value === 'emergency_stop') {
      emergencyStop = true;
      continue;
    }
    image.writeCoil(unitId, entry.address, on);
    if (FEEDBACK_VALUES.has(entry.value)) feedback.push({ entry, value: on ? 1 : 0 });
  }
  return { kind: 'write', pdu: response, feedback, emergencyStop };
}

/** Decodes and stores register writes. A float32 that is NaN or infinite gets 03 and changes nothing. */
function applyRegisterWrites(
  image: RegisterImage,
  unitId: number,
  functionCode: number,
  entries: readonly RegisterMapEntry[],
  address: number,
  data: Buffer,
  response: Buffer,
): PduResult {
  const feedback: FeedbackWrite[] = [];
  for (const entry of entries) {
    const value = decodeRegisterValue(
      data,
      (entry.address - address) * 2,
      DATA_TYPE_CODES[entry.type ?? 'uint16'],
      BYTE_ORDER_CODES[entry.order],
      entry.scale,
      entry.offset,
    );
    if (!Number.isFinite(value)) {
      return exception(functionCode, EXCEPTION_CODES.illegalDataValue, `register ${entry.address} (${entry.label}) received ${value}, which is not a finite number`);
    }
    if (FEEDBACK_VALUES.has(entry.value)) feedback.push({ entry, value });
  }

  image.writeHolding(unitId, address, data);
  return { kind: 'write', pdu: response, feedback, emergencyStop: false };
}

/** Builds exception 02 for a write the map does not allow, marked so that the caller audits it. */
function rejectWrite(
  image: RegisterImage,
  unitId: number,
  functionCode: number,
  table: 'holding' | 'coil',
  address: number,
  count: number,
  check: Extract<WriteCheck, { ok: false }>,
): PduResult {
  return exception(functionCode, EXCEPTION_CODES.illegalDataAddress, describeWriteFailure(image, unitId, table, check), {
    table,
    address,
    count,
    clearsEmergencyStop: false,
  });
}

function describeWriteFailure(image: RegisterImage, unitId: number, table: 'holding' | 'coil', check: Extract<WriteCheck, { ok: false }>): string {
  const entry = image.mapOf(unitId)?.tables[table].entryAt.get(check.address);
  const name = table === 'holding' ? 'holding register' : 'coil';
  switch (check.reason) {
    case 'read-only':
      if (entry?.value === 'emergency_stop' && !image.allowsEmergencyStopCoil(unitId)) {
        return `unit id ${unitId} does not allow an emergency stop from Modbus; set allow_modbus_emergency_stop in its station configuration`;
      }
      return `${name} ${check.address} (${entry?.label ?? 'unknown'}) is read-only`;
    case 'partial-value':
      return `${name} ${check.address} is part of the ${entry?.type ?? ''} value at ${entry?.address ?? check.address} (${entry?.label ?? 'unknown'}); write all its registers in one request`;
    default:
      return `${name} ${check.address} is outside the map of unit id ${unitId}`;
  }
}

function hex16(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, '0');
}
