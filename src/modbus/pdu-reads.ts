import { EXCEPTION_CODES, exception, FUNCTION_CODES, malformed, MAX_READ_COILS, MAX_READ_REGISTERS, quantityOutOfRange, type PduResult } from './pdu-codes.js';
import type { RegisterImage } from './register-image.js';

/** Function code, a 16-bit address and a 16-bit quantity or value. */
export const FIXED_REQUEST_LENGTH = 5;

/** Function codes 3 and 4: holding or input registers. */
export function readRegisters(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = request.readUInt8(0);
  if (request.length !== FIXED_REQUEST_LENGTH) return malformed(functionCode, request.length, FIXED_REQUEST_LENGTH);

  const address = request.readUInt16BE(1);
  const quantity = request.readUInt16BE(3);
  if (quantity < 1 || quantity > MAX_READ_REGISTERS) return quantityOutOfRange(functionCode, 'register', quantity, MAX_READ_REGISTERS);
  return registerResponse(image, unitId, functionCode, address, quantity);
}

/** Builds the response of a holding or input register read, or exception 02 when the range is not mapped. */
export function registerResponse(image: RegisterImage, unitId: number, functionCode: number, address: number, quantity: number): PduResult {
  const read =
    functionCode === FUNCTION_CODES.readInputRegisters ? image.readInput(unitId, address, quantity) : image.readHolding(unitId, address, quantity);
  if (!read.ok) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataAddress, `registers ${address}..${address + quantity - 1} are outside the map`);
  }

  const response = Buffer.allocUnsafe(2 + read.registers.length);
  response.writeUInt8(functionCode, 0);
  response.writeUInt8(read.registers.length, 1);
  read.registers.copy(response, 2);
  return { kind: 'response', pdu: response };
}

/** Function codes 1 and 2: coils or discrete inputs. */
export function readBits(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = request.readUInt8(0);
  if (request.length !== FIXED_REQUEST_LENGTH) return malformed(functionCode, request.length, FIXED_REQUEST_LENGTH);

  const address = request.readUInt16BE(1);
  const quantity = request.readUInt16BE(3);
  const what = functionCode === FUNCTION_CODES.readCoils ? 'coil' : 'discrete input';
  if (quantity < 1 || quantity > MAX_READ_COILS) return quantityOutOfRange(functionCode, what, quantity, MAX_READ_COILS);

  const read = image.readBits(unitId, functionCode === FUNCTION_CODES.readCoils ? 'coil' : 'discrete_input', address, quantity);
  if (!read.ok) {
    return exception(functionCode, EXCEPTION_CODES.illegalDataAddress, `${what}s ${address}..${address + quantity - 1} are outside the map`);
  }

  // Bits are packed eight to a byte, the lowest address in the least significant bit, and the
  // unused high bits of the last byte are 0.
  const byteCount = Math.ceil(quantity / 8);
  const response = Buffer.alloc(2 + byteCount);
  response.writeUInt8(functionCode, 0);
  response.writeUInt8(byteCount, 1);
  for (let index = 0; index < quantity; index += 1) {
    if (read.bits[index] === 1) response[2 + (index >> 3)] = (response[2 + (index >> 3)] ?? 0) | (1 << (index & 7));
  }
  return { kind: 'response', pdu: response };
}
