import { AdapterError } from '../errors.js';
import type { PumpLimits } from './pipeline.js';

export interface OverrideRequest {
  value: number;
  expiresAt: Date;
}

/**
 * Checks a manual override before it is stored. A value outside the pump's limits is rejected,
 * not clamped, because the operator asked for that exact value and must learn that it cannot be
 * published.
 */
export function validateOverride(input: { stationId: string; pumpId: string; limits: PumpLimits; request: OverrideRequest; now: Date; maxOverrideMs: number }): void {
  const { stationId, pumpId, limits, request, now } = input;
  const where = `pump ${pumpId} at station ${stationId}`;

  if (!Number.isFinite(request.value) || request.value < limits.minimum || request.value > limits.maximum) {
    throw new AdapterError('SETPOINT_OUT_OF_RANGE', `override value ${request.value} for ${where} is outside its limits [${limits.minimum}, ${limits.maximum}]; choose a value within them`, {
      details: { station_id: stationId, pump_id: pumpId, value: request.value, minimum: limits.minimum, maximum: limits.maximum },
    });
  }
  if (limits.onOff && request.value !== 0 && request.value !== 1) {
    throw new AdapterError('SETPOINT_OUT_OF_RANGE', `override value ${request.value} for on/off ${where} must be 0 or 1`, {
      details: { station_id: stationId, pump_id: pumpId, value: request.value, minimum: 0, maximum: 1 },
    });
  }

  const remainingMs = request.expiresAt.getTime() - now.getTime();
  if (!Number.isFinite(remainingMs) || remainingMs <= 0) {
    throw new AdapterError('VALIDATION_FAILED', `invalid field expires_at: ${describeTime(request.expiresAt)} is not in the future; give a later time or duration_seconds`, {
      details: { invalid_params: [{ name: 'expires_at', reason: 'must be in the future' }] },
    });
  }
  if (remainingMs > input.maxOverrideMs) {
    const maxSeconds = Math.floor(input.maxOverrideMs / 1000);
    throw new AdapterError('VALIDATION_FAILED', `invalid field expires_at: the override would last ${Math.ceil(remainingMs / 1000)} s, more than the maximum ${maxSeconds} s; shorten it`, {
      details: { invalid_params: [{ name: 'expires_at', reason: `at most ${maxSeconds} s ahead` }] },
    });
  }
}

function describeTime(time: Date): string {
  return Number.isNaN(time.getTime()) ? 'an invalid time' : time.toISOString();
}
