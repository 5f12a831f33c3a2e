import type { AdapterLogger } from '../log.js';
import type { AlertEvents } from './alert-events.js';
import type { PumpEpisodeConditions } from './episode-conditions.js';
import { clampEpisodeKey, failsafeEpisodeKey, type EpisodeDetails } from './episode-store.js';
import { EpisodeTracker } from './episodes.js';
import type { PersistenceQueue } from './persistence-queue.js';
import type { PumpLimits } from './pipeline.js';
import type { WatchdogConditions, WatchdogReason } from './watchdog.js';

type EpisodeEventType = 'SETPOINT_CLAMPED' | 'SETPOINT_CLAMP_CLEARED' | 'FAILSAFE_ACTIVATED' | 'FAILSAFE_CLEARED';

/**
 * Audits and alerts a station's clamp and failsafe episodes, one row when each starts and one when
 * it ends. Each cause is its own episode: a station-wide database_unreachable or plan_stale, and
 * per pump a missing plan (no_plan) or a value outside the limits (clamp). A cause that another
 * one takes over stays open, because it still holds, so the audit log never reports as cleared a
 * cause that was only superseded.
 *
 * While the database is unreachable past the grace period, the plan-derived episodes (plan_stale
 * and every pump episode) neither start nor end. The adapter cannot read plans then, so it cannot
 * tell whether they still hold, and the database_unreachable episode covers that time.
 *
 * Rows go through the station's write queue, so an episode that starts during an outage is
 * recorded with its start time once the database returns.
 */
export class EpisodeRecorder {
  private readonly episodes = new EpisodeTracker<EpisodeDetails>();

  constructor(
    private readonly options: {
      stationId: string;
      queue: PersistenceQueue;
      alerts: AlertEvents;
      logger: AdapterLogger;
    },
  ) {}

  /** Takes over the episodes that the audit log shows open, so that a restart does not start them again. */
  restore(open: ReadonlyMap<string, EpisodeDetails>): void {
    this.episodes.restore(open);
  }

  /** Records the start or end of the station-wide causes. */
  trackStation(conditions: WatchdogConditions, wall: Date): void {
    this.trackStationCause('database_unreachable', conditions.databaseUnreachable, wall);
    if (conditions.databaseUnreachable) return;
    this.trackStationCause('plan_stale', conditions.planStale, wall);
  }

  /** Records the start or end of one pump's clamp and missing-plan episodes. */
  trackPump(pump: { pumpId: string; unit: string; limits: PumpLimits }, own: PumpEpisodeConditions, station: WatchdogConditions, wall: Date): void {
    if (station.databaseUnreachable) return;
    const { stationId } = this.options;
    const { pumpId, limits } = pump;

    const clamp = this.episodes.update(clampEpisodeKey(pumpId), own.clamped, { pumpId, reason: 'out_of_limits', requested: own.requestedValue });
    if (clamp) {
      const started = clamp.change === 'started';
      const details = { pump_id: pumpId, requested: clamp.details.requested, minimum: limits.minimum, maximum: limits.maximum };
      this.record(started ? 'SETPOINT_CLAMPED' : 'SETPOINT_CLAMP_CLEARED', started ? 'MEDIUM' : 'LOW', pumpId, details, wall,
        started
          ? `station ${stationId} pump ${pumpId}: requested ${String(clamp.details.requested)} is outside [${limits.minimum}, ${limits.maximum}]; publishing the nearest limit`
          : `station ${stationId} pump ${pumpId}: requested value within limits again`);
    }

    const noPlan = this.episodes.update(failsafeEpisodeKey('no_plan', pumpId), own.planMissing, { pumpId, reason: 'no_plan', requested: null });
    if (noPlan) {
      const started = noPlan.change === 'started';
      this.record(started ? 'FAILSAFE_ACTIVATED' : 'FAILSAFE_CLEARED', started ? 'HIGH' : 'MEDIUM', pumpId, { pump_id: pumpId, reason: 'no_plan' }, wall,
        started
          ? `station ${stationId} pump ${pumpId}: no plan row covers now; failsafe setpoint ${limits.failsafeSetpoint} ${pump.unit}`
          : `station ${stationId} pump ${pumpId}: a plan row or an override applies again; the pump moves to it at its rate limit unless a station-wide failsafe holds`);
    }
  }

  private trackStationCause(reason: WatchdogReason, active: boolean, wall: Date): void {
    const change = this.episodes.update(failsafeEpisodeKey(reason, null), active, { pumpId: null, reason, requested: null });
    if (!change) return;
    const { stationId } = this.options;
    const started = change.change === 'started';
    const affected = reason === 'plan_stale' ? 'every pump without an override' : 'every pump';
    this.record(started ? 'FAILSAFE_ACTIVATED' : 'FAILSAFE_CLEARED', started ? 'HIGH' : 'MEDIUM', null, { reason }, wall,
      started
        ? `station ${stationId}: ${affected} switched to its failsafe setpoint (${reason})`
        : `station ${stationId}: failsafe cause ${reason} cleared; pumps return to their targets at their rate limits unless another cause holds`);
  }

  private record(type: EpisodeEventType, severity: 'LOW' | 'MEDIUM' | 'HIGH', pumpId: string | null, details: Record<string, unknown>, wall: Date, message: string): void {
    const { stationId, queue, alerts, logger } = this.options;
    logger[severity === 'LOW' ? 'info' : 'warning']({ pump_id: pumpId, ...details }, message);
    void queue.enqueueAudit({ eventType: type, severity, source: 'system', stationId, details, occurredAt: wall });
    alerts.raise({ type, severity, stationId, pumpId, message, details, occurredAt: wall });
  }
}
