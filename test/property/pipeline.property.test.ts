import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EmergencyStopState } from '../../src/machines/emergency-stop.js';
import { STOP_IMAGE_STATES } from '../../src/machines/emergency-stop.js';
import { computePumpOutput, type PumpLimits } from '../../src/station/pipeline.js';

/**
 * The pure pipeline alone, with arbitrary limits and arbitrary inputs at each step, including
 * non-finite values: the checks that the station property test makes, over many more cases.
 */

const limitsArbitrary: fc.Arbitrary<PumpLimits> = fc
  .record({
    minimum: fc.double({ min: -1000, max: 1000, noNaN: true }),
    span: fc.double({ min: 0, max: 2000, noNaN: true }),
    rate: fc.double({ min: 0.001, max: 100, noNaN: true }),
    failsafe: fc.double({ min: 0, max: 1, noNaN: true }),
    stop: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ minimum, span, rate, failsafe, stop }) => ({
    minimum,
    maximum: minimum + span,
    maxRatePerSecond: rate,
    failsafeSetpoint: minimum + failsafe * span,
    stopSetpoint: minimum + stop * span,
  }));

const anyValue = fc.oneof(fc.double(), fc.constant(null));

const stepArbitrary = fc.record({
  planValue: anyValue,
  overrideValue: anyValue,
  watchdog: fc.constantFrom(null, 'database_unreachable' as const, 'plan_stale' as const),
  stopState: fc.constantFrom<EmergencyStopState>('restoring', 'operational', 'stopped', 'held', 'recovering'),
  elapsedSeconds: fc.double({ min: 0, max: 60, noNaN: true }),
});

describe('pipeline over random steps', () => {
  it('keeps values within limits and rate', () => {
    fc.assert(
      fc.property(limitsArbitrary, fc.array(stepArbitrary, { minLength: 1, maxLength: 50 }), (limits, steps) => {
        let previous = limits.stopSetpoint;
        for (const step of steps) {
          const output = computePumpOutput({ ...step, limits, previousSetpoint: previous });
          expect(output.setpoint).toBeGreaterThanOrEqual(limits.minimum);
          expect(output.setpoint).toBeLessThanOrEqual(limits.maximum);

          if (STOP_IMAGE_STATES.has(step.stopState)) {
            expect(output.setpoint).toBe(limits.stopSetpoint);
          } else if (step.stopState === 'operational' && output.failsafe) {
            expect(output.setpoint).toBe(limits.failsafeSetpoint);
          } else {
            // A relative allowance, because a ramp step adds and subtracts values of any magnitude.
            const tolerance = 1e-9 * Math.max(1, Math.abs(previous), Math.abs(output.setpoint));
            expect(Math.abs(output.setpoint - previous)).toBeLessThanOrEqual(limits.maxRatePerSecond * step.elapsedSeconds + tolerance);
          }
          if (step.watchdog === 'database_unreachable') expect(output.targetSetpoint).toBe(limits.failsafeSetpoint);
          previous = output.setpoint;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
