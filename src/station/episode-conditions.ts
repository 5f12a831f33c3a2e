import { clampToLimits, selectSource, type PumpLimits } from './pipeline.js';

/** The conditions of one pump that open and close its audit episodes. */
export interface PumpEpisodeConditions {
  /** Neither an override nor a plan row covers now, so the pump needs its failsafe setpoint. */
  planMissing: boolean;
  /** The override or plan value lies outside [minimum, maximum]. */
  clamped: boolean;
  /** The value outside the limits, or null when it is within them. */
  requestedValue: number | null;
}

/**
 * Evaluates a pump's episode conditions from its own inputs, its plan value and override, without
 * the station watchdog. A station-wide failsafe replaces what the pump publishes, but a missing
 * plan or an out-of-limits value is still there, so the takeover must not be audited as its end.
 */
export function evaluatePumpEpisodeConditions(input: { planValue: number | null; overrideValue: number | null }, limits: PumpLimits): PumpEpisodeConditions {
  const source = selectSource({ planValue: input.planValue, overrideValue: input.overrideValue, watchdog: null }, limits);
  const clamp = clampToLimits(source.value, limits);
  return {
    planMissing: source.failsafeReason === 'no_plan',
    clamped: clamp.clamped,
    requestedValue: clamp.clamped ? source.value : null,
  };
}
