/**
 * Conversion between engineering values and the bytes of one Modbus register value.
 *
 * Byte orders name the four bytes of a 32-bit big-endian value A B C D in the order in which they
 * appear on the wire, two bytes per register. ABCD is the Modbus default (high word first), CDAB
 * swaps the words, BADC swaps the bytes within each word, and DCBA does both. A 16-bit value has the
 * bytes A B, so ABCD and CDAB send A B, while BADC and DCBA send B A.
 *
 * The register value is engineering value × scale + offset. Integer types round it with
 * Math.round (halves toward +∞) and saturate it to the type's range, and NaN becomes 0 because
 * integers have no NaN. Decoding inverts this: engineering value = (register value − offset) / scale.
 */

export const DATA_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export type DataType = (typeof DATA_TYPES)[number];

export const BYTE_ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type ByteOrder = (typeof BYTE_ORDERS)[number];

/** Numeric codes of the types and orders, for the typed arrays that workers receive. */
export const DATA_TYPE_CODES: Record<DataType, number> = { int16: 0, uint16: 1, int32: 2, uint32: 3, float32: 4 };
export const BYTE_ORDER_CODES: Record<ByteOrder, number> = { ABCD: 0, CDAB: 1, BADC: 2, DCBA: 3 };

/** Inclusive range of each integer type. */
export const INTEGER_RANGES: Record<Exclude<DataType, 'float32'>, readonly [number, number]> = {
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

/** Number of 16-bit registers a value of the type occupies. */
export function registerWidth(type: DataType): 1 | 2 {
  return type === 'int16' || type === 'uint16' ? 1 : 2;
}

export function registerWidthOfCode(typeCode: number): 1 | 2 {
  return typeCode <= DATA_TYPE_CODES.uint16 ? 1 : 2;
}

/**
 * Returns the value nearest to `value` that an integer register with this scale and offset
 * carries exactly and that is still within [minimum, maximum]. Plain rounding could publish a
 * value past a limit: 4.96 with a maximum of 4.96 becomes 50 in a register scaled by 10, which
 * reads as 5.0. A range narrower than one register step has no such value, and `value` is kept.
 */
export function quantizeWithinLimits(value: number, minimum: number, maximum: number, scale: number, offset: number): number {
  if (scale === 0 || !Number.isFinite(value)) return value;
  const step = Math.sign(scale);
  const engineering = (raw: number) => (raw - offset) / scale;
  let raw = Math.round(value * scale + offset);
  if (engineering(raw) > maximum) raw -= step;
  if (engineering(raw) < minimum) raw += step;
  const quantized = engineering(raw);
  return quantized >= minimum && quantized <= maximum ? quantized : value;
}

/** Returns the register value of an engineering value, rounded and saturated for integer types. */
export function toRegisterValue(typeCode: number, engineering: number, scale: number, offset: number): number {
  // Adding an offset of 0 would turn −0 into +0, which float32 encodes differently.
  const raw = offset === 0 ? engineering * scale : engineering * scale + offset;
  if (typeCode === DATA_TYPE_CODES.float32) return raw;
  const rounded = Math.round(raw);
  if (Number.isNaN(rounded)) return 0;
  const [minimum, maximum] = integerRangeOfCode(typeCode);
  return Math.min(maximum, Math.max(minimum, rounded));
}

function integerRangeOfCode(typeCode: number): readonly [number, number] {
  switch (typeCode) {
    case DATA_TYPE_CODES.int16:
      return INTEGER_RANGES.int16;
    case DATA_TYPE_CODES.uint16:
      return INTEGER_RANGES.uint16;
    case DATA_TYPE_CODES.int32:
      return INTEGER_RANGES.int32;
    default:
      return INTEGER_RANGES.uint32;
  }
}

/** Scratch space for the big-endian form before reordering; the codec is synchronous, so one suffices. */
const scratch = Buffer.alloc(4);

/**
 * Writes an engineering value at `byteOffset` of `target` in the given type and byte order.
 * The caller checks that the value's registers fit into `target`.
 */
export function encodeRegisterValue(
  target: Uint8Array,
  byteOffset: number,
  typeCode: number,
  orderCode: number,
  engineering: number,
  scale: number,
  offset: number,
): void {
  const value = toRegisterValue(typeCode, engineering, scale, offset);
  switch (typeCode) {
    case DATA_TYPE_CODES.int16:
      scratch.writeInt16BE(value, 0);
      break;
    case DATA_TYPE_CODES.uint16:
      scratch.writeUInt16BE(value, 0);
      break;
    case DATA_TYPE_CODES.int32:
      scratch.writeInt32BE(value, 0);
      break;
    case DATA_TYPE_CODES.uint32:
      scratch.writeUInt32BE(value, 0);
      break;
    default:
      scratch.writeFloatBE(value, 0);
  }
  placeBytes(scratch, target, byteOffset, registerWidthOfCode(typeCode), orderCode);
}

/** Reads the engineering value at `byteOffset` of `source`, the inverse of encodeRegisterValue. */
export function decodeRegisterValue(source: Uint8Array, byteOffset: number, typeCode: number, orderCode: number, scale: number, offset: number): number {
  takeBytes(source, byteOffset, scratch, registerWidthOfCode(typeCode), orderCode);
  let raw: number;
  switch (typeCode) {
    case DATA_TYPE_CODES.int16:
      raw = scratch.readInt16BE(0);
      break;
    case DATA_TYPE_CODES.uint16:
      raw = scratch.readUInt16BE(0);
      break;
    case DATA_TYPE_CODES.int32:
      raw = scratch.readInt32BE(0);
      break;
    case DATA_TYPE_CODES.uint32:
      raw = scratch.readUInt32BE(0);
      break;
    default:
      raw = scratch.readFloatBE(0);
  }
  return (raw - offset) / scale;
}

/** Wire position of each big-endian byte A, B, C, D for every byte order. */
const WIRE_POSITIONS: readonly (readonly number[])[] = [
  [0, 1, 2, 3], // ABCD
  [2, 3, 0, 1], // CDAB
  [1, 0, 3, 2], // BADC
  [3, 2, 1, 0], // DCBA
];

/** Wire position of bytes A and B of a 16-bit value: the byte swap of BADC and DCBA applies, the word swap has nothing to swap. */
const WIRE_POSITIONS_16: readonly (readonly number[])[] = [
  [0, 1],
  [0, 1],
  [1, 0],
  [1, 0],
];

function positionsFor(width: 1 | 2, orderCode: number): readonly number[] {
  const table = width === 1 ? WIRE_POSITIONS_16 : WIRE_POSITIONS;
  const positions = table[orderCode];
  if (!positions) throw new RangeError(`invalid byte order code ${orderCode}: use 0 to 3 (ABCD, CDAB, BADC, DCBA)`);
  return positions;
}

function placeBytes(bigEndian: Uint8Array, target: Uint8Array, byteOffset: number, width: 1 | 2, orderCode: number): void {
  const positions = positionsFor(width, orderCode);
  for (let index = 0; index < positions.length; index += 1) {
    target[byteOffset + (positions[index] ?? 0)] = bigEndian[index] ?? 0;
  }
}

function takeBytes(source: Uint8Array, byteOffset: number, bigEndian: Uint8Array, width: 1 | 2, orderCode: number): void {
  const positions = positionsFor(width, orderCode);
  for (let index = 0; index < positions.length; index += 1) {
    bigEndian[index] = source[byteOffset + (positions[index] ?? 0)] ?? 0;
  }
}
