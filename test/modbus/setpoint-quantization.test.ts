import { describe, expect, it } from 'vitest';
import { encodeStationRegisters, PUMP_REGISTER_OFFSETS, pumpBlockAddress } from '../../src/modbus/register-layout.js';
import { makePump, makeStation } from './station-fixture.js';

/** Reads the default layout's int16 "setpoint × 10" register of pump 1. */
function setpointTimesTenRegister(setpoint: number, minimum: number, maximum: number): number {
  const registers = encodeStationRegisters(makeStation({ pumps: [makePump({ setpoint, minimum, maximum })] }));
  return registers.readInt16BE((pumpBlockAddress(1) + PUMP_REGISTER_OFFSETS.setpointTimesTen) * 2);
}

describe('setpoint × 10 register', () => {
  it('rounds to the nearest tenth inside the limits', () => {
    expect(setpointTimesTenRegister(42.46, 20, 50)).toBe(425);
    expect(setpointTimesTenRegister(42.44, 20, 50)).toBe(424);
  });

  it('never rounds past a limit', () => {
    // 4.96 would round to 5.0, above the maximum, and 0.04 to 0.0, below the minimum.
    expect(setpointTimesTenRegister(4.96, 0.04, 4.96)).toBe(49);
    expect(setpointTimesTenRegister(0.04, 0.04, 4.96)).toBe(1);
  });

  it('keeps negative ranges inside', () => {
    expect(setpointTimesTenRegister(-4.96, -4.96, -0.04)).toBe(-49);
    expect(setpointTimesTenRegister(-0.04, -4.96, -0.04)).toBe(-1);
  });
});
