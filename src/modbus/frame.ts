/**
 * MBAP framing of Modbus TCP (Modbus Messaging on TCP/IP Implementation Guide v1.0b): a 7-byte
 * header of transaction id, protocol id, length and unit id, followed by the PDU. The length
 * field counts the unit id and the PDU.
 */

export const MBAP_HEADER_LENGTH = 7;

/** Transaction id, protocol id and length field. The length field counts the bytes after them. */
const LENGTH_FIELD_END = 6;

/** Protocol id of Modbus in the MBAP header. Every other value is a different protocol. */
export const MODBUS_PROTOCOL_ID = 0;

/** Unit id plus the function code, the shortest possible PDU. */
export const MIN_MBAP_LENGTH = 2;

/** Unit id plus the longest PDU of 253 bytes that the Modbus Application Protocol allows. */
export const MAX_MBAP_LENGTH = 254;

export interface MbapFrame {
  transactionId: number;
  unitId: number;
  /** Function code and data, as a view of the received bytes. */
  pdu: Buffer;
}

/** A header that no Modbus TCP client sends. The connection cannot be resynchronized after it. */
export class MbapFramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MbapFramingError';
  }
}

/**
 * Splits one connection's byte stream into MBAP frames. TCP may deliver a frame across several
 * segments or several frames in one segment, so bytes past the last complete frame are kept for
 * the next push.
 */
export class MbapFrameReader {
  private pending: Buffer | null = null;

  /**
   * Appends received bytes and returns the frames completed by them, in order.
   * Throws MbapFramingError on an invalid header, after which the reader must not be used again.
   */
  push(chunk: Buffer): MbapFrame[] {
    const bytes = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: MbapFrame[] = [];
    let offset = 0;

    while (bytes.length - offset >= LENGTH_FIELD_END) {
      const length = validateHeader(bytes, offset);
      const frameLength = LENGTH_FIELD_END + length;
      if (bytes.length - offset < frameLength) break;

      frames.push({
        transactionId: bytes.readUInt16BE(offset),
        unitId: bytes.readUInt8(offset + 6),
        pdu: bytes.subarray(offset + MBAP_HEADER_LENGTH, offset + frameLength),
      });
      offset += frameLength;
    }

    // Copying the remainder (at most one partial frame) lets the large socket chunk be freed.
    this.pending = offset < bytes.length ? Buffer.from(bytes.subarray(offset)) : null;
    return frames;
  }

  /** Number of received bytes that do not yet form a complete frame. */
  get pendingByteCount(): number {
    return this.pending?.length ?? 0;
  }
}

/** Checks the protocol id and length field of the header at `offset` and returns the length field. */
function validateHeader(bytes: Buffer, offset: number): number {
  const protocolId = bytes.readUInt16BE(offset + 2);
  if (protocolId !== MODBUS_PROTOCOL_ID) {
    throw new MbapFramingError(`invalid MBAP protocol id ${protocolId}: Modbus TCP requires ${MODBUS_PROTOCOL_ID}`);
  }

  const length = bytes.readUInt16BE(offset + 4);
  if (length < MIN_MBAP_LENGTH || length > MAX_MBAP_LENGTH) {
    throw new MbapFramingError(
      `invalid MBAP length ${length}: it must be ${MIN_MBAP_LENGTH} to ${MAX_MBAP_LENGTH} (unit id plus a PDU of at most 253 bytes)`,
    );
  }
  return length;
}

/** Builds a response frame that echoes the request's transaction id and unit id. */
export function encodeMbapFrame(transactionId: number, unitId: number, pdu: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(MBAP_HEADER_LENGTH + pdu.length);
  frame.writeUInt16BE(transactionId, 0);
  frame.writeUInt16BE(MODBUS_PROTOCOL_ID, 2);
  frame.writeUInt16BE(1 + pdu.length, 4);
  frame.writeUInt8(unitId, 6);
  pdu.copy(frame, MBAP_HEADER_LENGTH);
  return frame;
}
