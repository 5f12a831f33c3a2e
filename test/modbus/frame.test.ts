import { describe, it, expect } from 'vitest';
import { encodeMbapFrame, MbapFrameReader, MbapFramingError } from '../../src/modbus/frame.js';
import { hex } from './raw-client.js';

const readRequest = hex('00 01 00 00 00 06 01 03 00 00 00 03');
const coilRequest = hex('00 02 00 00 00 06 07 05 00 00 ff 00');

describe('MbapFrameReader', () => {
  it('parses one complete frame', () => {
    const frames = new MbapFrameReader().push(readRequest);
    expect(frames).toHaveLength(1);
    expect(frames[0]?.transactionId).toBe(1);
    expect(frames[0]?.unitId).toBe(1);
    expect(frames[0]?.pdu).toEqual(hex('03 00 00 00 03'));
  });

  it('parses a frame delivered one byte at a time', () => {
    const reader = new MbapFrameReader();
    for (let index = 0; index < readRequest.length - 1; index += 1) {
      expect(reader.push(readRequest.subarray(index, index + 1)), `after byte ${index}`).toEqual([]);
    }
    expect(reader.pendingByteCount).toBe(readRequest.length - 1);

    const frames = reader.push(readRequest.subarray(readRequest.length - 1));
    expect(frames.map((frame) => frame.pdu)).toEqual([hex('03 00 00 00 03')]);
    expect(reader.pendingByteCount).toBe(0);
  });

  it('parses several frames in one chunk', () => {
    const frames = new MbapFrameReader().push(Buffer.concat([readRequest, coilRequest]));
    expect(frames.map((frame) => [frame.transactionId, frame.unitId])).toEqual([
      [1, 1],
      [2, 7],
    ]);
  });

  it('keeps a trailing partial frame for the next chunk', () => {
    const reader = new MbapFrameReader();
    const stream = Buffer.concat([readRequest, coilRequest]);
    expect(reader.push(stream.subarray(0, 15))).toHaveLength(1);
    expect(reader.pendingByteCount).toBe(3);
    expect(reader.push(stream.subarray(15)).map((frame) => frame.transactionId)).toEqual([2]);
  });

  it('accepts the shortest frame of unit id and function code', () => {
    const frames = new MbapFrameReader().push(hex('00 09 00 00 00 02 01 2b'));
    expect(frames[0]?.pdu).toEqual(hex('2b'));
  });

  it('accepts the longest frame of 254 length bytes', () => {
    const frame = Buffer.concat([hex('00 09 00 00 00 fe 01'), Buffer.alloc(253, 0x10)]);
    expect(new MbapFrameReader().push(frame)[0]?.pdu.length).toBe(253);
  });

  it('rejects a protocol id other than 0', () => {
    expect(() => new MbapFrameReader().push(hex('00 01 00 01 00 06 01 03 00 00 00 03'))).toThrow(/protocol id 1:/);
  });

  it('rejects a bad header before the frame is complete', () => {
    expect(() => new MbapFrameReader().push(hex('00 01 12 34 00 06'))).toThrow(MbapFramingError);
  });

  it.each([0, 1, 255, 0xffff])('rejects length field %i', (length) => {
    const header = hex('00 01 00 00 00 00');
    header.writeUInt16BE(length, 4);
    expect(() => new MbapFrameReader().push(header)).toThrow(new RegExp(`invalid MBAP length ${length}:`));
  });
});

describe('encodeMbapFrame', () => {
  it('echoes transaction id and unit id with protocol id 0', () => {
    expect(encodeMbapFrame(0xabcd, 7, hex('83 02'))).toEqual(hex('ab cd 00 00 00 03 07 83 02'));
  });
});
