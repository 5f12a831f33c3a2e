/** Cause for which the watchdog keeps every pump of a station at its failsafe setpoint. */
export type WatchdogReason = 'database_unreachable' | 'plan_stale';

export interface WatchdogInput {
  /** Monotonic time now, in ms. */
  monotonicMs: number;
  databaseUnreachable: boolean;
  /** Monotonic time of the last successful database read, in ms. */
  lastDatabaseContactMs: number;
  databaseGraceMs: number;
  /** Wall-clock time now, in ms since the epoch. */
  wallMs: number;
  /** created_at of the optimizer's newest row for the station, in ms since the epoch, or null. */
  lastPlanWriteMs: number | null;
  /** 0 turns the staleness check off. */
  planStalenessMs: number;
}

/**
 * Decides whether a station's pumps must leave the plan for their failsafe setpoints. The grace
 * period is measured on the monotonic clock, so a wall-clock step cannot start or end it. Plan
 * age compares database timestamps and therefore uses the wall clock.
 */
export function evaluateWatchdog(input: WatchdogInput): WatchdogReason | null {
  if (input.databaseUnreachable && input.monotonicMs - input.lastDatabaseContactMs > input.databaseGraceMs) {
    return 'database_unreachable';
  }
  const stale = input.planStalenessMs > 0 && input.lastPlanWriteMs !== null && input.wallMs - input.lastPlanWriteMs > input.planStalenessMs;
  return stale ? 'plan_stale' : null;
}
