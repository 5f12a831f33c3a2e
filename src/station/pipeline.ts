import type { EmergencyStopState } from '../machines/emergency-stop.js';
import { STOP_IMAGE_STATES } from '../machines/emergency-stop.js';

/**
 * The setpoint pipeline of one pump, as pure functions applied in this order:
 * source (plan, manual override or failsafe) → clamp to [minimum, maximum] → rate-of-change limit
 * → stop setpoint while stopped or held → recovery ramp while recovering. Nothing else decides a
 * pump's setpoint.
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
  /** An on/off pump takes only 0 or 1: plan values are rounded and the rate limit does not apply. */
  onOff?: boolean;
}

/**
 * Why a pump publishes its failsafe setpoint: the station's watchdog (database unreachable past the
 * grace period, or the optimizer's newest row older than the staleness limit), or no plan row
 * covers now for this pump.
 */
export type FailsafeReason = 'database_unreachable' | 'plan_stale' | 'no_plan';

export interface SourceInput {
  /** Target value of the newest plan row covering now, or null when none does. */
  planValue: number | null;
  /** Value of the pump's unexpired manual override, or null. */
  overrideValue: number | null;
  /** The station watchdog's verdict, which applies to every pump of the station. */
  watchdog: 'database_unreachable' | 'plan_stale' | null;
}

export interface SourceValue {
  value: number;
  mode: 'plan' | 'override' | 'failsafe';
  failsafeReason: FailsafeReason | null;
}

/**
 * Step 1 picks where the setpoint comes from. A database outage past the grace period sends every
 * pump to failsafe, overrides included, because the adapter can no longer store or audit what
 * operators do. Otherwise a manual override wins over the plan, and a stale or missing plan gives
 * the failsafe setpoint.
 */
export function selectSource(input: SourceInput, limits: PumpLimits): SourceValue {
  if (input.watchdog === 'database_unreachable') return failsafe('database_unreachable', limits);

  if (input.overrideValue !== null && Number.isFinite(input.overrideValue)) {
    return { value: roundOnOff(input.overrideValue, limits), mode: 'override', failsafeReason: null };
  }

  if (input.watchdog === 'plan_stale') return failsafe('plan_stale', limits);
  if (input.planValue === null || !Number.isFinite(input.planValue)) return failsafe('no_plan', limits);
  return { value: roundOnOff(input.planValue, limits), mode: 'plan', failsafeReason: null };
}

function failsafe(reason: FailsafeReason, limits: PumpLimits): SourceValue {
  return { value: limits.failsafeSetpoint, mode: 'failsafe', failsafeReason: reason };
}

function roundOnOff(value: number, limits: PumpLimits): number {
  if (!limits.onOff) return value;
  return value >= 0.5 ? 1 : 0;
}

/** Step 2 forces the value into [minimum, maximum] and reports whether it had to. */
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

export interface RateLimitInput {
  target: number;
  /** The setpoint published before this evaluation. */
  previous: number;
  source: SourceValue;
  stopState: EmergencyStopState;
  limits: PumpLimits;
  /** Monotonic time since the previous evaluation, in seconds. */
  elapsedSeconds: number;
}

/**
 * Returns the time, in seconds, that the rate limit may credit to this evaluation. A pump that was
 * at its target has not moved since the previous evaluation, which may be a whole heartbeat ago,
 * so its first step after a target change gets at most one ramp tick. Otherwise that step would be
 * published at once and could be as large as the rate limit times the heartbeat interval.
 */
export function rateLimitSeconds(elapsedSeconds: number, wasRamping: boolean, rampTickSeconds: number): number {
  const elapsed = Math.max(0, elapsedSeconds);
  return wasRamping ? elapsed : Math.min(elapsed, rampTickSeconds);
}

/**
 * Step 3 limits the change per second, in operation and while recovering. One move is exempt. In
 * operation, a pump that the watchdog or a missing plan sends to failsafe goes there at once, like
 * a stop. Its failsafe setpoint is the value the engineer chose for when the adapter cannot vouch
 * for the plan. Leaving failsafe goes through the rate limit like any other change.
 */
export function limitRateOfChange(input: RateLimitInput): number {
  const jumpToFailsafe = input.source.mode === 'failsafe' && input.stopState === 'operational';
  if (jumpToFailsafe) return input.target;
  return rampToward(input.previous, input.target, input.limits, input.elapsedSeconds);
}

/** Step 4 replaces the value with the stop setpoint while the station publishes the stop image. */
export function applyStopValue(value: number, stopState: EmergencyStopState, limits: PumpLimits): { value: number; stopped: boolean } {
  if (STOP_IMAGE_STATES.has(stopState)) return { value: limits.stopSetpoint, stopped: true };
  return { value, stopped: false };
}

/**
 * Step 5 marks the recovery ramp. While recovering, the value from step 3 has moved from the stop
 * setpoint toward the target at the rate limit. Recovery ends once every pump has reached it.
 */
export function applyRecoveryRamp(value: number, target: number, stopState: EmergencyStopState): { value: number; recovering: boolean; ramping: boolean } {
  if (stopState !== 'recovering') return { value, recovering: false, ramping: false };
  return { value, recovering: true, ramping: value !== target };
}

export interface PumpOutputInput {
  planValue: number | null;
  overrideValue?: number | null;
  watchdog?: 'database_unreachable' | 'plan_stale' | null;
  stopState: EmergencyStopState;
  limits: PumpLimits;
  /** The setpoint published before this evaluation; the rate limit and the ramp start from it. */
  previousSetpoint: number;
  elapsedSeconds: number;
}

export interface PumpOutput {
  setpoint: number;
  mode: PumpMode;
  /** Source value after clamping, before the rate limit, the stop setpoint and the ramp apply. */
  targetSetpoint: number;
  /** True when the source value lay outside [minimum, maximum]. */
  clamped: boolean;
  /** The value that was clamped, or null when none was. */
  requestedValue: number | null;
  failsafe: boolean;
  failsafeReason: FailsafeReason | null;
  /** True while the published value has not reached the target (outside the stop image). */
  ramping: boolean;
}

export function computePumpOutput(input: PumpOutputInput): PumpOutput {
  const { limits, stopState } = input;
  const source = selectSource({ planValue: input.planValue, overrideValue: input.overrideValue ?? null, watchdog: input.watchdog ?? null }, limits);
  const clamp = clampToLimits(source.value, limits);
  const previous = guardLimits(input.previousSetpoint, limits);
  const limited = limitRateOfChange({ target: clamp.value, previous, source, stopState, limits, elapsedSeconds: input.elapsedSeconds });
  const stop = applyStopValue(limited, stopState, limits);
  const ramp = applyRecoveryRamp(stop.value, clamp.value, stopState);

  let mode: PumpMode = source.mode;
  if (stop.stopped) mode = 'stopped';
  else if (ramp.recovering) mode = 'recovering';

  return {
    setpoint: guardLimits(ramp.value, limits),
    mode,
    targetSetpoint: clamp.value,
    clamped: clamp.clamped,
    requestedValue: clamp.clamped ? source.value : null,
    failsafe: source.mode === 'failsafe',
    failsafeReason: source.failsafeReason,
    ramping: !stop.stopped && ramp.value !== clamp.value,
  };
}

/**
 * Forces a value into the pump's limits as the last line of defence: whatever the steps above
 * computed, the published value lies within the pump's limits, and a non-finite value becomes the
 * stop setpoint.
 */
export function guardLimits(value: number, limits: PumpLimits): number {
  if (!Number.isFinite(value)) return Math.min(limits.maximum, Math.max(limits.minimum, limits.stopSetpoint));
  return Math.min(limits.maximum, Math.max(limits.minimum, value));
}
