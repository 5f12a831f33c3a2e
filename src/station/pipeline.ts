import type { EmergencyStopState } from '../machines/emergency-stop.js';
import { STOP_IMAGE_STATES } from '../machines/emergency-stop.js';

/**
 * The setpoint pipeline of one pump, as pure functions applied in this order:
 * source (plan or failsafe) → clamp to [minimum, maximum] → stop setpoint while stopped or held →
 * recovery ramp while recovering. Nothing else decides a pump's setpoint.
 */

export type PumpMode = 'plan' | 'override' | 'failsafe' | 'stopped' | 'recovering';

/** Mode numbers published in the Modbus pump block; SCADA scripts depend on them. */
export const PUMP_MODE_CODES: Record<PumpMode, number> = {
  plan: 0,
  override: 1,
  failsafe: 2,
  stopped: 3,
  recovering: 4,
};

export interface PumpLimits {
  minimum: number;
  maximum: number;
  maxRatePerSecond: number;
  failsafeSetpoint: number;
  stopSetpoint: number;
  /** An on/off pump takes only 0 or 1: plan values are rounded and the ramp switches at once. */
  onOff?: boolean;
}

export interface SourceValue {
  value: number;
  mode: 'plan' | 'failsafe';
}

/** Picks the plan value, or the failsafe setpoint when no plan row covers now. */
export function selectSource(planValue: number | null, limits: PumpLimits): SourceValue {
  if (planValue === null || !Number.isFinite(planValue)) {
    return { value: limits.failsafeSetpoint, mode: 'failsafe' };
  }
  if (limits.onOff) {
    return { value: planValue >= 0.5 ? 1 : 0, mode: 'plan' };
  }
  return { value: planValue, mode: 'plan' };
}

export function clampToLimits(value: number, limits: PumpLimits): { value: number; clamped: boolean } {
  const clampedValue = Math.min(limits.maximum, Math.max(limits.minimum, value));
  return { value: clampedValue, clamped: clampedValue !== value };
}

/** Moves `current` toward `target` by at most the pump's rate limit over `elapsedSeconds`. */
export function rampToward(current: number, target: number, limits: PumpLimits, elapsedSeconds: number): number {
  if (limits.onOff) return target;
  const maxStep = limits.maxRatePerSecond * Math.max(0, elapsedSeconds);
  if (Math.abs(target - current) <= maxStep) return target;
  return current + Math.sign(target - current) * maxStep;
}

export interface PumpOutputInput {
  planValue: number | null;
  stopState: EmergencyStopState;
  limits: PumpLimits;
  /** The setpoint published before this evaluation; the recovery ramp starts from it. */
  previousSetpoint: number;
  elapsedSeconds: number;
}

export interface PumpOutput {
  setpoint: number;
  mode: PumpMode;
  /** Plan (or failsafe) value after clamping, before the stop setpoint and the ramp apply. */
  targetSetpoint: number;
  clamped: boolean;
  failsafe: boolean;
  /** True while recovering and the ramp has not yet reached the target. */
  ramping: boolean;
}

export function computePumpOutput(input: PumpOutputInput): PumpOutput {
  const { limits } = input;
  const source = selectSource(input.planValue, limits);
  const clamp = clampToLimits(source.value, limits);
  const base = { targetSetpoint: clamp.value, clamped: clamp.clamped, failsafe: source.mode === 'failsafe' };

  if (STOP_IMAGE_STATES.has(input.stopState)) {
    return { ...base, setpoint: guardLimits(limits.stopSetpoint, limits), mode: 'stopped', ramping: false };
  }

  if (input.stopState === 'recovering') {
    const rampedValue = rampToward(input.previousSetpoint, clamp.value, limits, input.elapsedSeconds);
    return { ...base, setpoint: guardLimits(rampedValue, limits), mode: 'recovering', ramping: rampedValue !== clamp.value };
  }

  // TODO: limit the rate of change in operation too, not only during recovery.
  return { ...base, setpoint: guardLimits(clamp.value, limits), mode: source.mode, ramping: false };
}

/**
 * Forces a value into the pump's limits as the last line of defence: whatever the steps above computed, the published value lies within
 * the pump's limits, and a non-finite value becomes the stop setpoint.
 */
function guardLimits(value: number, limits: PumpLimits): number {
  if (!Number.isFinite(value)) return limits.stopSetpoint;
  return Math.min(limits.maximum, Math.max(limits.minimum, value));
}
