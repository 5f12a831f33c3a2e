import { describe, it, expect } from 'vitest';
import { RegisterImage } from '../../src/modbus/register-image.js';
import { STATUS_BITS } from '../../src/modbus/register-layout.js';
import { makePump, makeStation } from './station-fixture.js';

describe('RegisterImage', () => {
  it('reads a station as soon as setStation returns', () => {
    const image = new RegisterImage();
    image.setStation(makeStation());
    image.setStation(makeStation({ emergencyStopActive: true }));

    const read = image.readHolding(1, 0, 1);
    expect(read).toEqual({ ok: true, registers: Buffer.from([0, STATUS_BITS.emergencyStopActive]) });
    expect(image.readCoils(1, 0, 1)).toEqual({ ok: true, coils: [true] });
  });

  it('reports an unknown unit', () => {
    const image = new RegisterImage();
    image.setStation(makeStation({ unitId: 1 }));
    expect(image.readHolding(2, 0, 1)).toEqual({ ok: false, reason: 'unknown-unit' });
    expect(image.readCoils(2, 0, 1)).toEqual({ ok: false, reason: 'unknown-unit' });
    expect(image.hasUnit(2)).toBe(false);
  });

  it('treats a defined station without a snapshot as unknown', () => {
    const image = new RegisterImage();
    image.defineStation(3, { allowEmergencyStopCoil: true });
    expect(image.hasUnit(3)).toBe(false);
    expect(image.readHolding(3, 0, 1)).toEqual({ ok: false, reason: 'unknown-unit' });
    expect(image.unitIds).toEqual([]);

    image.setStation(makeStation({ unitId: 3 }));
    expect(image.hasUnit(3)).toBe(true);
    expect(image.allowsEmergencyStopCoil(3)).toBe(true);
    expect(image.unitIds).toEqual([3]);
  });

  it('keeps the coil policy when snapshots change', () => {
    const image = new RegisterImage();
    image.setStation(makeStation({ unitId: 4 }));
    expect(image.allowsEmergencyStopCoil(4)).toBe(false);

    image.defineStation(4, { allowEmergencyStopCoil: true });
    image.setStation(makeStation({ unitId: 4, heartbeat: 9 }));
    expect(image.allowsEmergencyStopCoil(4)).toBe(true);
  });

  it('rejects ranges past the last register', () => {
    const image = new RegisterImage();
    image.setStation(makeStation({ pumps: [makePump()] }));
    expect(image.readHolding(1, 0, 20).ok).toBe(true);
    expect(image.readHolding(1, 19, 1).ok).toBe(true);
    expect(image.readHolding(1, 19, 2)).toEqual({ ok: false, reason: 'out-of-range' });
    expect(image.readHolding(1, 20, 1)).toEqual({ ok: false, reason: 'out-of-range' });
    expect(image.readHolding(1, 65535, 125)).toEqual({ ok: false, reason: 'out-of-range' });
  });

  it('mirrors holding registers as input registers', () => {
    const image = new RegisterImage();
    image.setStation(makeStation({ heartbeat: 77 }));
    expect(image.readInput(1, 0, 20)).toEqual(image.readHolding(1, 0, 20));
  });

  it('has coil address 0 only', () => {
    const image = new RegisterImage();
    image.setStation(makeStation());
    expect(image.readCoils(1, 0, 1)).toEqual({ ok: true, coils: [false] });
    expect(image.readCoils(1, 1, 1)).toEqual({ ok: false, reason: 'out-of-range' });
    expect(image.readCoils(1, 0, 2)).toEqual({ ok: false, reason: 'out-of-range' });
  });

  it('leaves an earlier read unchanged by a later snapshot', () => {
    const image = new RegisterImage();
    image.setStation(makeStation({ heartbeat: 1 }));
    const before = image.readHolding(1, 1, 1);
    image.setStation(makeStation({ heartbeat: 2 }));
    expect(before).toEqual({ ok: true, registers: Buffer.from([0, 1]) });
  });

  it.each([-1, 256, 1.5, Number.NaN])('rejects unit id %d', (unitId) => {
    const image = new RegisterImage();
    expect(() => image.defineStation(unitId, { allowEmergencyStopCoil: false })).toThrow(/invalid Modbus unit id/);
    expect(() => image.setStation(makeStation({ unitId }))).toThrow(/use an integer from 0 to 255/);
  });
});
