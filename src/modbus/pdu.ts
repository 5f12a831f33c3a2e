import { EXCEPTION_CODES, exception, FUNCTION_CODES, type PduResult } from './pdu-codes.js';
import { readBits, readRegisters } from './pdu-reads.js';
import { readWriteMultipleRegisters, writeMultipleCoils, writeMultipleRegisters, writeSingleCoil, writeSingleRegister } from './pdu-writes.js';
import type { RegisterImage } from './register-image.js';

export * from './pdu-codes.js';

/**
 * Request handling over the register image: a request PDU in, a response PDU out, with no I/O.
 * Codes, limits and check order follow the Modbus Application Protocol Specification v1.1b3.
 * An unknown unit id fails first (exception 0B) and an unsupported function code next (01).
 * Then come a malformed request, quantity or byte count (03) and last an address range outside
 * the map or, for writes, not writable (02).
 */
export function handleRequestPdu(image: RegisterImage, unitId: number, request: Buffer): PduResult {
  const functionCode = request.readUInt8(0);
  if (!image.hasUnit(unitId)) {
    return exception(functionCode, EXCEPTION_CODES.gatewayTargetDeviceFailedToRespond, `no station has unit id ${unitId}`);
  }

  switch (functionCode) {
    case FUNCTION_CODES.readCoils:
    case FUNCTION_CODES.readDiscreteInputs:
      return readBits(image, unitId, request);
    case FUNCTION_CODES.readHoldingRegisters:
    case FUNCTION_CODES.readInputRegisters:
      return readRegisters(image, unitId, request);
    case FUNCTION_CODES.writeSingleCoil:
      return writeSingleCoil(image, unitId, request);
    case FUNCTION_CODES.writeSingleRegister:
      return writeSingleRegister(image, unitId, request);
    case FUNCTION_CODES.writeMultipleCoils:
      return writeMultipleCoils(image, unitId, request);
    case FUNCTION_CODES.writeMultipleRegisters:
      return writeMultipleRegisters(image, unitId, request);
    case FUNCTION_CODES.readWriteMultipleRegisters:
      return readWriteMultipleRegisters(image, unitId, request);
    default:
      return exception(functionCode, EXCEPTION_CODES.illegalFunction, `function code ${functionCode} is not supported`);
  }
}
