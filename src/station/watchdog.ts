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
  /**
   * The station's newest plan write (PlanState.lastWrite) in ms since the epoch, -Infinity when it
   * has rows but none with a write time that counts, or null when it has no rows.
   */
  lastPlanWriteMs: number | null;
  /** 0 turns the staleness check off. */
  planStalenessMs: number;
}

/** The two station-wide failsafe causes, each evaluated on its own. */
export interface WatchdogConditions {
  /** The database has been unreachable for longer than the grace period. */
  databaseUnreachable: boolean;
  /** The station's newest plan write is older than the staleness limit. */
  planStale: boolean;
}

/**
 * Evaluates each station-wide failsafe cause. The grace period is measured on the monotonic clock,
 * so a wall-clock step cannot start or end it. Plan age compares database timestamps and therefore
 * uses the wall clock.
 */
export function evaluateWatchdogConditions(input: WatchdogInput): WatchdogConditions {
  const databaseUnreachable = input.databaseUnreachable && input.monotonicMs - input.lastDatabaseContactMs > input.databaseGraceMs;
  const planStale = input.planStalenessMs > 0 && input.lastPlanWriteMs !== null && input.wallMs - input.lastPlanWriteMs > input.planStalenessMs;
  return { databaseUnreachable, planStale };
}

/** Picks the cause that sends the pumps to failsafe: a database outage wins over a stale plan. */
export function selectWatchdogReason(conditions: WatchdogConditions): WatchdogReason | null {
  if (conditions.databaseUnreachable) return 'database_unreachable';
  return conditions.planStale ? 'plan_stale' : null;
}

/** Decides whether a station's pumps must leave the plan for their failsafe setpoints, and why. */
export function evaluateWatchdog(input: WatchdogInput): WatchdogReason | null {
  return selectWatchdogReason(evaluateWatchdogConditions(input));
}
